/*
 * test_page.c: list paging (src/page.c): the cursor codec, the query parameters and the
 * filter and options page_apply adds.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "config.h"
#include "page.h"

#define TEST_RAW_LEN 37
#define TEST_TEXT_LEN 50

static const uint8_t test_key[PAGE_KEY_LEN] = "0123456789abcdef0123456789abcdef";
static const uint8_t test_other_key[PAGE_KEY_LEN] = "fedcba9876543210fedcba9876543210";
static const char test_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* 2023-11-14T22:13:20.123Z */
#define TEST_CREATED_MS INT64_C(1700000000123)
#define TEST_OID_HEX "65540f00aabbccddeeff0011"

static void
test_config(struct config *c, int use_cursor)
{
	memset(c, 0, sizeof(*c));
	c->pagination_default_limit = 20;
	c->pagination_max_limit = 100;
	c->pagination_use_cursor = use_cursor;
}

static void
test_cursor(char out[PAGE_CURSOR_MAX])
{
	bson_oid_t id;

	bson_oid_init_from_string(&id, TEST_OID_HEX);
	page_cursor_encode(test_key, TEST_CREATED_MS, &id, out);
}

/* The test's own base64url (no padding), to tamper with the bytes under a cursor. */
static size_t
test_b64_decode(const char *s, uint8_t *out)
{
	size_t o = 0;
	uint32_t v = 0;
	int bits = 0;
	const char *pos;

	for (; *s != '\0'; s++) {
		pos = strchr(test_alphabet, *s);
		assert_non_null(pos);
		v = (v << 6 | (uint32_t)(pos - test_alphabet)) & 0xffffff;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (uint8_t)(v >> bits);
		}
	}
	return o;
}

static void
test_b64_encode(const uint8_t *in, size_t len, char *out)
{
	size_t i, o = 0;
	uint32_t v = 0;
	int bits = 0;

	for (i = 0; i < len; i++) {
		v = (v << 8 | in[i]) & 0xffffff;
		bits += 8;
		while (bits >= 6) {
			bits -= 6;
			out[o++] = test_alphabet[v >> bits & 63];
		}
	}
	if (bits > 0)
		out[o++] = test_alphabet[v << (6 - bits) & 63];
	out[o] = '\0';
}

static int
test_decodes(const char *cursor)
{
	int64_t ms;
	bson_oid_t id;

	return page_cursor_decode(test_key, cursor, &ms, &id);
}

static void
test_json_is(const bson_t *b, const char *want)
{
	char *s = bson_as_canonical_extended_json(b, NULL);

	assert_non_null(s);
	assert_string_equal(s, want);
	bson_free(s);
}

/* ---- cursor codec ---- */

static void
test_cursor_round_trips(void **state)
{
	char cur[PAGE_CURSOR_MAX];
	int64_t ms = 0;
	bson_oid_t id, want;

	test_cursor(cur);
	assert_int_equal(strlen(cur), TEST_TEXT_LEN);
	assert_int_equal(page_cursor_decode(test_key, cur, &ms, &id), 0);
	bson_oid_init_from_string(&want, TEST_OID_HEX);
	assert_true(ms == TEST_CREATED_MS);
	assert_true(bson_oid_equal(&id, &want));
}

static void
test_cursor_round_trips_negative_and_extreme_dates(void **state)
{
	const int64_t dates[] = {0, -1, INT64_MIN, INT64_MAX, -62135596800000};
	char cur[PAGE_CURSOR_MAX];
	int64_t ms;
	bson_oid_t id, got;
	size_t i;

	bson_oid_init_from_string(&id, TEST_OID_HEX);
	for (i = 0; i < sizeof(dates) / sizeof(dates[0]); i++) {
		page_cursor_encode(test_key, dates[i], &id, cur);
		assert_int_equal(page_cursor_decode(test_key, cur, &ms, &got), 0);
		assert_true(ms == dates[i]);
		assert_true(bson_oid_equal(&id, &got));
	}
}

static void
test_cursor_uses_only_the_base64url_alphabet(void **state)
{
	char cur[PAGE_CURSOR_MAX];
	size_t i;

	test_cursor(cur);
	for (i = 0; cur[i] != '\0'; i++)
		assert_non_null(strchr(test_alphabet, cur[i]));
}

static void
test_cursor_rejects_every_single_bit_flip_of_its_bytes(void **state)
{
	char cur[PAGE_CURSOR_MAX], forged[PAGE_CURSOR_MAX];
	uint8_t raw[TEST_RAW_LEN + 4];
	size_t len, bit;

	test_cursor(cur);
	len = test_b64_decode(cur, raw);
	assert_int_equal(len, TEST_RAW_LEN);
	for (bit = 0; bit < len * 8; bit++) {
		raw[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		test_b64_encode(raw, len, forged);
		assert_int_equal(strlen(forged), TEST_TEXT_LEN);
		assert_int_equal(test_decodes(forged), -1);
		raw[bit / 8] ^= (uint8_t)(1u << (bit % 8));
	}
	/* The unflipped bytes re-encode to an accepted cursor: the flips are what failed. */
	test_b64_encode(raw, len, forged);
	assert_string_equal(forged, cur);
	assert_int_equal(test_decodes(forged), 0);
}

static void
test_cursor_rejects_every_single_bit_flip_of_its_characters(void **state)
{
	char cur[PAGE_CURSOR_MAX];
	size_t i;
	int bit;

	test_cursor(cur);
	for (i = 0; cur[i] != '\0'; i++) {
		for (bit = 0; bit < 8; bit++) {
			cur[i] ^= (char)(1 << bit);
			if (cur[i] != '\0')
				assert_int_equal(test_decodes(cur), -1);
			cur[i] ^= (char)(1 << bit);
		}
	}
	assert_int_equal(test_decodes(cur), 0);
}

static void
test_cursor_rejects_every_other_character_in_each_position(void **state)
{
	char cur[PAGE_CURSOR_MAX], orig;
	size_t i, k;

	/* Includes the last character, whose low bits are unused: a non-canonical spelling of
	 * the same bytes must not be accepted either. */
	test_cursor(cur);
	for (i = 0; cur[i] != '\0'; i++) {
		orig = cur[i];
		for (k = 0; test_alphabet[k] != '\0'; k++) {
			if (test_alphabet[k] == orig)
				continue;
			cur[i] = test_alphabet[k];
			assert_int_equal(test_decodes(cur), -1);
		}
		cur[i] = orig;
	}
}

static void
test_cursor_rejects_tampered_signature(void **state)
{
	char cur[PAGE_CURSOR_MAX];
	uint8_t raw[TEST_RAW_LEN + 4];

	test_cursor(cur);
	test_b64_decode(cur, raw);
	raw[TEST_RAW_LEN - 1] ^= 0x80;
	test_b64_encode(raw, TEST_RAW_LEN, cur);
	assert_int_equal(test_decodes(cur), -1);
}

static void
test_cursor_rejects_a_changed_position_with_the_old_signature(void **state)
{
	char cur[PAGE_CURSOR_MAX];
	uint8_t raw[TEST_RAW_LEN + 4];

	/* One millisecond later: the page a forger would like to jump to. */
	test_cursor(cur);
	test_b64_decode(cur, raw);
	raw[8]++;
	test_b64_encode(raw, TEST_RAW_LEN, cur);
	assert_int_equal(test_decodes(cur), -1);
}

static void
test_cursor_rejects_wrong_key(void **state)
{
	char cur[PAGE_CURSOR_MAX];
	int64_t ms;
	bson_oid_t id;

	test_cursor(cur);
	assert_int_equal(page_cursor_decode(test_other_key, cur, &ms, &id), -1);
}

/*
 * The key of an RS256 deployment once came from the public key's file path, which anyone can
 * guess: a cursor signed with that key must not pass, whatever the configuration says.
 */
static void
test_cursor_forged_with_the_key_file_path_is_refused(void **state)
{
	static const char path[] = "/etc/enterprised/jwt-public.pem";
	static struct config c;
	uint8_t forged_key[PAGE_KEY_LEN], key[PAGE_KEY_LEN];
	char forged[PAGE_CURSOR_MAX];
	int64_t created;
	bson_oid_t oid, got;

	(void)state;
	memset(&c, 0, sizeof(c));
	snprintf(c.jwt_public_key_file, sizeof(c.jwt_public_key_file), "%s", path);
	snprintf(c.cursor_secret, sizeof(c.cursor_secret), "%s",
		 "a-cursor-secret-of-32-bytes-or-more");
	page_key_derive(path, strlen(path), forged_key);
	bson_oid_init_from_string(&oid, TEST_OID_HEX);
	page_cursor_encode(forged_key, TEST_CREATED_MS, &oid, forged);

	assert_int_equal(page_key_from_config(&c, key), 0);
	assert_int_equal(page_cursor_decode(key, forged, &created, &got), -1);
	/* without a cursor secret (config_validate refuses that, but still) the key is random */
	c.cursor_secret[0] = '\0';
	assert_int_equal(page_key_from_config(&c, key), 0);
	assert_memory_not_equal(key, forged_key, PAGE_KEY_LEN);
	assert_int_equal(page_cursor_decode(key, forged, &created, &got), -1);
}

/* Every instance configured alike derives the same key: a cursor from one works on another. */
static void
test_cursor_key_is_the_same_for_the_same_secret(void **state)
{
	static struct config c;
	uint8_t a[PAGE_KEY_LEN], b[PAGE_KEY_LEN], hs[PAGE_KEY_LEN];
	static const char jwt[] = "a-jwt-secret-of-at-least-32-bytes!!";

	(void)state;
	memset(&c, 0, sizeof(c));
	snprintf(c.jwt_secret, sizeof(c.jwt_secret), "%s", jwt);
	assert_int_equal(page_key_from_config(&c, a), 0);
	assert_int_equal(page_key_from_config(&c, b), 0);
	assert_memory_equal(a, b, PAGE_KEY_LEN);
	/* derived under a label: the cursor key is not the token secret itself */
	assert_memory_not_equal(a, jwt, PAGE_KEY_LEN);
	memcpy(hs, a, sizeof(hs));
	/* a cursor secret, when set, wins over the token secret */
	snprintf(c.cursor_secret, sizeof(c.cursor_secret), "%s",
		 "a-cursor-secret-of-32-bytes-or-more");
	assert_int_equal(page_key_from_config(&c, a), 0);
	assert_memory_not_equal(a, hs, PAGE_KEY_LEN);
}

static void
test_cursor_rejects_wrong_version_even_when_signed(void **state)
{
	char cur[PAGE_CURSOR_MAX];
	uint8_t raw[TEST_RAW_LEN + 4];

	uint8_t mac[EVP_MAX_MD_SIZE];
	unsigned int mac_len = 0;

	/* Version 2 with a valid MAC under the right key: only the version check refuses it. */
	test_cursor(cur);
	test_b64_decode(cur, raw);
	raw[0] = 2;
	assert_non_null(HMAC(EVP_sha256(), test_key, PAGE_KEY_LEN, raw, 21, mac, &mac_len));
	memcpy(raw + 21, mac, 16);
	test_b64_encode(raw, TEST_RAW_LEN, cur);
	assert_int_equal(test_decodes(cur), -1);
	raw[0] = 1;
	assert_non_null(HMAC(EVP_sha256(), test_key, PAGE_KEY_LEN, raw, 21, mac, &mac_len));
	memcpy(raw + 21, mac, 16);
	test_b64_encode(raw, TEST_RAW_LEN, cur);
	assert_int_equal(test_decodes(cur), 0);
}

static void
test_cursor_rejects_truncated(void **state)
{
	char cur[PAGE_CURSOR_MAX];
	size_t n;

	test_cursor(cur);
	for (n = strlen(cur); n > 0; n--) {
		cur[n - 1] = '\0';
		assert_int_equal(test_decodes(cur), -1);
	}
}

static void
test_cursor_rejects_extended(void **state)
{
	char cur[PAGE_CURSOR_MAX + 8];
	size_t n;

	test_cursor(cur);
	n = strlen(cur);
	memcpy(cur + n, "A", 2);
	assert_int_equal(test_decodes(cur), -1);
	memcpy(cur + n, "AAAA", 5);
	assert_int_equal(test_decodes(cur), -1);
	test_cursor(cur);
	memcpy(cur + n, "==", 3);
	assert_int_equal(test_decodes(cur), -1);
}

static void
test_cursor_rejects_non_base64url_characters(void **state)
{
	const char bad[] = {'+', '/', '=', ' ', '.', '%', '\n', (char)0xc3};
	char cur[PAGE_CURSOR_MAX], orig;
	size_t i;

	test_cursor(cur);
	for (i = 0; i < sizeof(bad); i++) {
		orig = cur[10];
		cur[10] = bad[i];
		assert_int_equal(test_decodes(cur), -1);
		cur[10] = orig;
	}
}

static void
test_cursor_rejects_empty_and_null(void **state)
{
	assert_int_equal(test_decodes(""), -1);
	assert_int_equal(test_decodes(NULL), -1);
}

/* ---- page_parse ---- */

/* page_parse with only the given parameters; expects a 400 on want_field. */
static void
test_parse_fails(int use_cursor, const char *limit, const char *page, const char *cursor,
		 const char *count, const char *want_field, const char *want_message)
{
	struct config c;
	struct page_params p;
	const char *field = NULL;
	char msg[128] = "";

	test_config(&c, use_cursor);
	assert_int_equal(
	    page_parse(&c, test_key, limit, page, cursor, count, &p, &field, msg, sizeof(msg)), -1);
	assert_non_null(field);
	assert_string_equal(field, want_field);
	if (want_message != NULL)
		assert_string_equal(msg, want_message);
}

static void
test_parse_ok(int use_cursor, const char *limit, const char *page, const char *cursor,
	      const char *count, struct page_params *p)
{
	struct config c;
	const char *field = NULL;
	char msg[128] = "";

	test_config(&c, use_cursor);
	assert_int_equal(
	    page_parse(&c, test_key, limit, page, cursor, count, p, &field, msg, sizeof(msg)), 0);
}

static void
test_limit_defaults_to_config(void **state)
{
	struct page_params p;

	test_parse_ok(0, NULL, NULL, NULL, NULL, &p);
	assert_int_equal(p.limit, 20);
}

static void
test_limit_accepts_one_and_the_max(void **state)
{
	struct page_params p;

	test_parse_ok(0, "1", NULL, NULL, NULL, &p);
	assert_int_equal(p.limit, 1);
	test_parse_ok(0, "100", NULL, NULL, NULL, &p);
	assert_int_equal(p.limit, 100);
}

static void
test_limit_over_max_is_rejected(void **state)
{
	test_parse_fails(0, "101", NULL, NULL, NULL, "limit", "limit must be between 1 and 100");
	test_parse_fails(0, "99999999999999999999999", NULL, NULL, NULL, "limit", NULL);
}

static void
test_limit_zero_is_rejected(void **state)
{
	test_parse_fails(0, "0", NULL, NULL, NULL, "limit", "limit must be between 1 and 100");
}

static void
test_limit_negative_is_rejected(void **state)
{
	test_parse_fails(0, "-5", NULL, NULL, NULL, "limit", "limit must be between 1 and 100");
	test_parse_fails(0, "-99999999999999999999999", NULL, NULL, NULL, "limit", NULL);
}

static void
test_limit_non_numeric_is_rejected(void **state)
{
	const char *bad[] = {"abc", "", " 10", "+10", "1e2", "0x10", "-", "10 "};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		test_parse_fails(0, bad[i], NULL, NULL, NULL, "limit", NULL);
}

static void
test_limit_with_trailing_text_is_rejected(void **state)
{
	test_parse_fails(0, "10abc", NULL, NULL, NULL, "limit", "limit must be between 1 and 100");
}

static void
test_page_is_parsed_in_range(void **state)
{
	struct page_params p;

	test_parse_ok(1, NULL, "3", NULL, NULL, &p);
	assert_int_equal(p.page, 3);
	test_parse_ok(0, NULL, "1000000", NULL, NULL, &p);
	assert_int_equal(p.page, 1000000);
}

static void
test_page_out_of_range_or_non_numeric_is_rejected(void **state)
{
	const char *bad[] = {"0", "-1", "1000001", "x", "", "2x"};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		test_parse_fails(0, NULL, bad[i], NULL, NULL, "page", NULL);
}

static void
test_page_and_cursor_together_are_rejected(void **state)
{
	char cur[PAGE_CURSOR_MAX];

	test_cursor(cur);
	test_parse_fails(0, NULL, "2", cur, NULL, "cursor", "use either page or cursor");
}

static void
test_bad_cursor_is_a_400_on_cursor(void **state)
{
	test_parse_fails(1, NULL, NULL, "AAAA", NULL, "cursor",
			 "cursor is invalid or was tampered with");
}

static void
test_count_defaults_to_true(void **state)
{
	struct page_params p;

	test_parse_ok(0, NULL, NULL, NULL, NULL, &p);
	assert_int_equal(p.want_count, 1);
}

static void
test_count_accepts_true_false_1_0(void **state)
{
	struct page_params p;

	test_parse_ok(0, NULL, NULL, NULL, "true", &p);
	assert_int_equal(p.want_count, 1);
	test_parse_ok(0, NULL, NULL, NULL, "1", &p);
	assert_int_equal(p.want_count, 1);
	test_parse_ok(0, NULL, NULL, NULL, "false", &p);
	assert_int_equal(p.want_count, 0);
	test_parse_ok(0, NULL, NULL, NULL, "0", &p);
	assert_int_equal(p.want_count, 0);
}

static void
test_count_rejects_anything_else(void **state)
{
	const char *bad[] = {"yes", "TRUE", "False", "", "2", " true"};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		test_parse_fails(0, NULL, NULL, NULL, bad[i], "count", NULL);
}

static void
test_mode_defaults_to_offset_when_config_says_so(void **state)
{
	struct page_params p;

	test_parse_ok(0, NULL, NULL, NULL, NULL, &p);
	assert_int_equal(p.cursor_mode, 0);
	assert_int_equal(p.page, 1);
	assert_int_equal(p.has_cursor, 0);
}

static void
test_mode_defaults_to_cursor_when_config_says_so(void **state)
{
	struct page_params p;

	test_parse_ok(1, NULL, NULL, NULL, NULL, &p);
	assert_int_equal(p.cursor_mode, 1);
	assert_int_equal(p.has_cursor, 0);
}

static void
test_page_selects_offset_mode_whatever_the_config(void **state)
{
	struct page_params p;

	test_parse_ok(1, NULL, "2", NULL, NULL, &p);
	assert_int_equal(p.cursor_mode, 0);
	assert_int_equal(p.page, 2);
}

static void
test_cursor_selects_cursor_mode_whatever_the_config(void **state)
{
	struct page_params p;
	char cur[PAGE_CURSOR_MAX];
	bson_oid_t want;

	test_cursor(cur);
	test_parse_ok(0, "5", NULL, cur, NULL, &p);
	assert_int_equal(p.cursor_mode, 1);
	assert_int_equal(p.has_cursor, 1);
	assert_int_equal(p.limit, 5);
	assert_true(p.after_created_ms == TEST_CREATED_MS);
	bson_oid_init_from_string(&want, TEST_OID_HEX);
	assert_true(bson_oid_equal(&p.after_id, &want));
}

/* ---- page_apply ---- */

#define TEST_SORT                                                                                  \
	"\"sort\" : { \"createdAt\" : { \"$numberInt\" : \"-1\" }, \"_id\" : { \"$numberInt\" : "  \
	"\"-1\" } }"
#define TEST_AFTER                                                                                 \
	"{ \"$or\" : [ { \"createdAt\" : { \"$lt\" : { \"$date\" : { \"$numberLong\" : "           \
	"\"1700000000123\" } } } }, { \"createdAt\" : { \"$date\" : { \"$numberLong\" : "          \
	"\"1700000000123\" } }, \"_id\" : { \"$lt\" : { \"$oid\" : \"" TEST_OID_HEX "\" } } } ] }"

static void
test_apply_offset_mode_skips_previous_pages(void **state)
{
	struct page_params p;
	bson_t filter = BSON_INITIALIZER, opts = BSON_INITIALIZER;

	test_parse_ok(0, "10", "3", NULL, NULL, &p);
	BSON_APPEND_UTF8(&filter, "status", "ACTIVE");
	page_apply(&p, &filter, &opts);
	test_json_is(&filter, "{ \"status\" : \"ACTIVE\" }");
	test_json_is(&opts, "{ " TEST_SORT ", \"limit\" : { \"$numberLong\" : \"11\" }, "
			    "\"skip\" : { \"$numberLong\" : \"20\" } }");
	bson_destroy(&filter);
	bson_destroy(&opts);
}

static void
test_apply_offset_first_page_has_no_skip(void **state)
{
	struct page_params p;
	bson_t filter = BSON_INITIALIZER, opts = BSON_INITIALIZER;

	test_parse_ok(0, NULL, NULL, NULL, NULL, &p);
	page_apply(&p, &filter, &opts);
	test_json_is(&filter, "{ }");
	test_json_is(&opts, "{ " TEST_SORT ", \"limit\" : { \"$numberLong\" : \"21\" } }");
	bson_destroy(&filter);
	bson_destroy(&opts);
}

static void
test_apply_first_cursor_page_adds_no_condition(void **state)
{
	struct page_params p;
	bson_t filter = BSON_INITIALIZER, opts = BSON_INITIALIZER;

	test_parse_ok(1, NULL, NULL, NULL, NULL, &p);
	BSON_APPEND_UTF8(&filter, "status", "ACTIVE");
	page_apply(&p, &filter, &opts);
	test_json_is(&filter, "{ \"status\" : \"ACTIVE\" }");
	test_json_is(&opts, "{ " TEST_SORT ", \"limit\" : { \"$numberLong\" : \"21\" } }");
	bson_destroy(&filter);
	bson_destroy(&opts);
}

static void
test_apply_cursor_on_empty_filter_is_the_condition_alone(void **state)
{
	struct page_params p;
	bson_t filter = BSON_INITIALIZER, opts = BSON_INITIALIZER;
	char cur[PAGE_CURSOR_MAX];

	test_cursor(cur);
	test_parse_ok(0, "5", NULL, cur, NULL, &p);
	page_apply(&p, &filter, &opts);
	test_json_is(&filter, TEST_AFTER);
	test_json_is(&opts, "{ " TEST_SORT ", \"limit\" : { \"$numberLong\" : \"6\" } }");
	bson_destroy(&filter);
	bson_destroy(&opts);
}

static void
test_apply_cursor_on_filter_wraps_both_in_and(void **state)
{
	struct page_params p;
	bson_t filter = BSON_INITIALIZER, opts = BSON_INITIALIZER;
	char cur[PAGE_CURSOR_MAX];

	test_cursor(cur);
	test_parse_ok(0, NULL, NULL, cur, NULL, &p);
	BSON_APPEND_UTF8(&filter, "status", "ACTIVE");
	BSON_APPEND_UTF8(&filter, "state", "CA");
	page_apply(&p, &filter, &opts);
	test_json_is(&filter,
		     "{ \"$and\" : [ { \"status\" : \"ACTIVE\", \"state\" : \"CA\" }, " TEST_AFTER
		     " ] }");
	test_json_is(&opts, "{ " TEST_SORT ", \"limit\" : { \"$numberLong\" : \"21\" } }");
	bson_destroy(&filter);
	bson_destroy(&opts);
}

static void
test_apply_cursor_on_heap_filter_wraps_both_in_and(void **state)
{
	struct page_params p;
	bson_t *filter = bson_new(), opts = BSON_INITIALIZER;
	char cur[PAGE_CURSOR_MAX];
	int i;

	/* Enough keys that the filter has left its inline buffer. */
	for (i = 0; i < 20; i++)
		BSON_APPEND_UTF8(filter, "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk",
				 "vvvvvvvvvvvvvvvvv");
	test_cursor(cur);
	test_parse_ok(0, NULL, NULL, cur, NULL, &p);
	page_apply(&p, filter, &opts);
	assert_true(bson_has_field(filter, "$and.0.kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk"));
	assert_true(bson_has_field(filter, "$and.1.$or"));
	assert_int_equal(bson_count_keys(filter), 1);
	bson_destroy(filter);
	bson_destroy(&opts);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cursor_round_trips),
	    cmocka_unit_test(test_cursor_round_trips_negative_and_extreme_dates),
	    cmocka_unit_test(test_cursor_uses_only_the_base64url_alphabet),
	    cmocka_unit_test(test_cursor_rejects_every_single_bit_flip_of_its_bytes),
	    cmocka_unit_test(test_cursor_rejects_every_single_bit_flip_of_its_characters),
	    cmocka_unit_test(test_cursor_rejects_every_other_character_in_each_position),
	    cmocka_unit_test(test_cursor_rejects_tampered_signature),
	    cmocka_unit_test(test_cursor_rejects_a_changed_position_with_the_old_signature),
	    cmocka_unit_test(test_cursor_rejects_wrong_key),
	    cmocka_unit_test(test_cursor_forged_with_the_key_file_path_is_refused),
	    cmocka_unit_test(test_cursor_key_is_the_same_for_the_same_secret),
	    cmocka_unit_test(test_cursor_rejects_wrong_version_even_when_signed),
	    cmocka_unit_test(test_cursor_rejects_truncated),
	    cmocka_unit_test(test_cursor_rejects_extended),
	    cmocka_unit_test(test_cursor_rejects_non_base64url_characters),
	    cmocka_unit_test(test_cursor_rejects_empty_and_null),
	    cmocka_unit_test(test_limit_defaults_to_config),
	    cmocka_unit_test(test_limit_accepts_one_and_the_max),
	    cmocka_unit_test(test_limit_over_max_is_rejected),
	    cmocka_unit_test(test_limit_zero_is_rejected),
	    cmocka_unit_test(test_limit_negative_is_rejected),
	    cmocka_unit_test(test_limit_non_numeric_is_rejected),
	    cmocka_unit_test(test_limit_with_trailing_text_is_rejected),
	    cmocka_unit_test(test_page_is_parsed_in_range),
	    cmocka_unit_test(test_page_out_of_range_or_non_numeric_is_rejected),
	    cmocka_unit_test(test_page_and_cursor_together_are_rejected),
	    cmocka_unit_test(test_bad_cursor_is_a_400_on_cursor),
	    cmocka_unit_test(test_count_defaults_to_true),
	    cmocka_unit_test(test_count_accepts_true_false_1_0),
	    cmocka_unit_test(test_count_rejects_anything_else),
	    cmocka_unit_test(test_mode_defaults_to_offset_when_config_says_so),
	    cmocka_unit_test(test_mode_defaults_to_cursor_when_config_says_so),
	    cmocka_unit_test(test_page_selects_offset_mode_whatever_the_config),
	    cmocka_unit_test(test_cursor_selects_cursor_mode_whatever_the_config),
	    cmocka_unit_test(test_apply_offset_mode_skips_previous_pages),
	    cmocka_unit_test(test_apply_offset_first_page_has_no_skip),
	    cmocka_unit_test(test_apply_first_cursor_page_adds_no_condition),
	    cmocka_unit_test(test_apply_cursor_on_empty_filter_is_the_condition_alone),
	    cmocka_unit_test(test_apply_cursor_on_filter_wraps_both_in_and),
	    cmocka_unit_test(test_apply_cursor_on_heap_filter_wraps_both_in_and),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
