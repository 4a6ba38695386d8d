/*
 * test_readcache.c: the keys of cached reads (readcache_key_build over
 * query_canonical), the query-string rules they rely on (validate_query_names), and the
 * keyed hash of the in-memory tables (hash.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"
#include "hash.h"
#include "http.h"
#include "query.h"
#include "readcache.h"
#include "validate.h"

/* The canonical form of query q, as a NUL-terminated string (static storage); NULL on -1. */
static const char *
canonical(const char *q)
{
	static char out[4096];
	struct http_req r;
	struct buf b;
	int rc;

	memset(&r, 0, sizeof(r));
	r.query = q;
	r.query_len = strlen(q);
	buf_init(&b);
	rc = query_canonical(r.query, r.query_len, &b);
	snprintf(out, sizeof(out), "%.*s", (int)b.len, b.len > 0 ? b.data : "");
	buf_free(&b);
	return rc == 0 ? out : NULL;
}

static void
key_of(const struct auth_principal *who, const char *path, const char *q, struct readcache_spec *s)
{
	struct buf b;
	struct http_req r;

	memset(&r, 0, sizeof(r));
	r.query = q;
	r.query_len = strlen(q);
	buf_init(&b);
	assert_int_equal(query_canonical(r.query, r.query_len, &b), 0);
	readcache_spec_init(s, SHM_RES_LIST, 60);
	assert_int_equal(readcache_key_build(s, who, path, &b), 0);
	buf_free(&b);
}

static struct auth_principal
principal(enum auth_role role, const char *org, const char *sub)
{
	struct auth_principal p;

	memset(&p, 0, sizeof(p));
	p.role = role;
	snprintf(p.org, sizeof(p.org), "%s", org);
	snprintf(p.sub, sizeof(p.sub), "%s", sub);
	return p;
}

#define ORG_A "aaaaaaaaaaaaaaaaaaaaaaaa"
#define ORG_B "bbbbbbbbbbbbbbbbbbbbbbbb"

/* --- the canonical query --- */

static void
test_canonical_query_sorts_pairs_by_name(void **state)
{
	(void)state;
	assert_string_equal(canonical("status=ACTIVE&limit=5"), "limit=5&status=ACTIVE");
	assert_string_equal(canonical("limit=5&status=ACTIVE"), "limit=5&status=ACTIVE");
	assert_string_equal(canonical(""), "");
}

static void
test_canonical_query_decodes_then_reencodes_one_way(void **state)
{
	(void)state;
	assert_string_equal(canonical("q=a+b"), "q=a%20b");
	assert_string_equal(canonical("q=a%20b"), "q=a%20b");
	assert_string_equal(canonical("status=%41CTIVE"), "status=ACTIVE");
	assert_string_equal(canonical("q=%26%3D%7C"), "q=%26%3D%7C"); /* & = | stay data */
	assert_string_equal(canonical("q=caf%C3%A9"), "q=caf%C3%A9");
	/* a name is decoded once, like a value: an encoded '+' stays a '+' (found by fuzz_edge) */
	assert_string_equal(canonical("a%2Bb=1&a+b=2"), "a%20b=2&a%2Bb=1");
	assert_string_equal(canonical("a%20b=2&a%2Bb=1"), "a%20b=2&a%2Bb=1");
}

static void
test_canonical_query_drops_empty_segments(void **state)
{
	(void)state;
	assert_string_equal(canonical("&&status=A&&&limit=1&"), "limit=1&status=A");
	assert_string_equal(canonical("&&&&"), "");
}

static void
test_canonical_query_refuses_repeats_and_bad_encoding(void **state)
{
	char many[QUERY_MAX_PAIRS * 6 + 16] = "";
	int i;

	(void)state;
	assert_null(canonical("a=1&a=2"));
	assert_null(canonical("a=1&b=%zz"));
	assert_null(canonical("a=%00"));
	assert_null(canonical("a=%0A"));
	assert_null(canonical("a=%7F"));
	assert_null(canonical("a=x%1Fy"));
	for (i = 0; i <= QUERY_MAX_PAIRS; i++)
		snprintf(many + strlen(many), sizeof(many) - strlen(many), "%c%c=1&", 'a' + i / 26,
			 'a' + i % 26);
	assert_null(canonical(many));
}

/* --- the key --- */

static void
test_key_starts_with_resource_and_scope(void **state)
{
	struct auth_principal a = principal(AUTH_ROLE_ORG_ADMIN, ORG_A, "u");
	struct readcache_spec s;

	(void)state;
	key_of(&a, "/api/v1/clinics", "status=ACTIVE", &s);
	assert_string_equal(s.key, "list|org:" ORG_A "|/api/v1/clinics?status=ACTIVE");
	assert_int_equal(s.key_len, strlen(s.key));
}

static void
test_key_of_a_long_query_keeps_the_scope_and_hashes_the_request(void **state)
{
	struct auth_principal a = principal(AUTH_ROLE_ORG_ADMIN, ORG_A, "u");
	struct auth_principal b = principal(AUTH_ROLE_ORG_ADMIN, ORG_B, "u");
	struct readcache_spec sa, sb, sa2;
	char q[3000];

	(void)state;
	memset(q, 'x', sizeof(q) - 1);
	q[0] = 'q';
	q[1] = '=';
	q[sizeof(q) - 1] = '\0';
	key_of(&a, "/api/v1/clinics/search", q, &sa);
	key_of(&b, "/api/v1/clinics/search", q, &sb);
	assert_true(sa.key_len < CACHE_KEY_MAX);
	assert_non_null(strstr(sa.key, "|org:" ORG_A "|#"));
	assert_non_null(strstr(sb.key, "|org:" ORG_B "|#"));
	assert_int_equal(strlen(strchr(sa.key, '#') + 1), 64); /* SHA-256 in hex */
	assert_string_not_equal(sa.key, sb.key);
	q[100] = 'y'; /* one byte further on: another key */
	key_of(&a, "/api/v1/clinics/search", q, &sa2);
	assert_string_not_equal(sa.key, sa2.key);
}

static void
test_key_never_cuts_whatever_the_lengths(void **state)
{
	char sub[128], path[1024];
	struct auth_principal p;
	struct readcache_spec s;

	(void)state;
	memset(sub, 's', sizeof(sub) - 1);
	sub[sizeof(sub) - 1] = '\0';
	memset(path, 'p', sizeof(path) - 1);
	path[0] = '/';
	path[sizeof(path) - 1] = '\0';
	p = principal(AUTH_ROLE_PROVIDER, ORG_A, sub);
	key_of(&p, path, "", &s);
	assert_true(s.key_len < CACHE_KEY_MAX);
	assert_int_equal(s.key_len, strlen(s.key));
	assert_non_null(strstr(s.key, sub)); /* the scope whole */
}

static void
test_key_scopes_differ_by_role_organization_and_provider(void **state)
{
	struct auth_principal who[] = {
	    principal(AUTH_ROLE_PLATFORM_ADMIN, "", "root"),
	    principal(AUTH_ROLE_ORG_ADMIN, ORG_A, "u"),
	    principal(AUTH_ROLE_ORG_ADMIN, ORG_B, "u"),
	    principal(AUTH_ROLE_PROVIDER, ORG_A, "p1"),
	    principal(AUTH_ROLE_PROVIDER, ORG_A, "p2"),
	    principal(AUTH_ROLE_PROVIDER, ORG_B, "p1"),
	    /* a subject made to look like the start of another key's request part */
	    principal(AUTH_ROLE_PROVIDER, ORG_A, "p1|/api/v1/clinics?"),
	};
	struct readcache_spec s[sizeof(who) / sizeof(who[0])];
	size_t i, k, n = sizeof(who) / sizeof(who[0]);

	(void)state;
	for (i = 0; i < n; i++)
		key_of(&who[i], "/api/v1/clinics", "", &s[i]);
	for (i = 0; i < n; i++)
		for (k = i + 1; k < n; k++)
			assert_string_not_equal(s[i].key, s[k].key);
}

/* --- query names --- */

static int
names(const char *q, const char **field)
{
	static const char *const allowed[] = {"status", "limit", "q", NULL};
	static struct validate_errors errs;
	int rc;

	memset(&errs, 0, sizeof(errs));
	rc = validate_query_names(q, strlen(q), allowed, &errs);
	if (field != NULL)
		*field = errs.n > 0 ? errs.items[0].field : NULL;
	return rc;
}

static void
test_query_names_refuse_a_repeated_name(void **state)
{
	const char *f;

	(void)state;
	assert_int_equal(names("status=A&status=B", &f), -1);
	assert_string_equal(f, "status");
	assert_int_equal(names("status=A&limit=1&status=A", &f), -1);
	assert_string_equal(f, "status");
}

static void
test_query_names_refuse_no_value_and_no_name(void **state)
{
	const char *f;

	(void)state;
	assert_int_equal(names("status=", &f), -1);
	assert_string_equal(f, "status");
	assert_int_equal(names("limit=1&status", &f), -1);
	assert_string_equal(f, "status");
	assert_int_equal(names("=x", &f), -1);
	assert_string_equal(f, "");
}

static void
test_query_names_ignore_empty_segments(void **state)
{
	(void)state;
	assert_int_equal(names("&&status=A&&limit=2&", NULL), 0);
	assert_int_equal(names("&", NULL), 0);
	assert_int_equal(names("", NULL), 0);
}

/* --- keyed hash --- */

static void
test_hash_secrets_differ_so_do_buckets(void **state)
{
	struct hash_secret a, b;
	const char key[] = "list|org:x|/api/v1/clinics?status=ACTIVE";

	(void)state;
	assert_int_equal(hash_secret_init(&a), 0);
	assert_int_equal(hash_secret_init(&b), 0);
	assert_memory_not_equal(a.bytes, b.bytes, sizeof(a.bytes));
	assert_int_equal(hash_keyed(&a, key, sizeof(key)), hash_keyed(&a, key, sizeof(key)));
	assert_true(hash_keyed(&a, key, sizeof(key)) != hash_keyed(&b, key, sizeof(key)));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_canonical_query_sorts_pairs_by_name),
	    cmocka_unit_test(test_canonical_query_decodes_then_reencodes_one_way),
	    cmocka_unit_test(test_canonical_query_drops_empty_segments),
	    cmocka_unit_test(test_canonical_query_refuses_repeats_and_bad_encoding),
	    cmocka_unit_test(test_key_starts_with_resource_and_scope),
	    cmocka_unit_test(test_key_of_a_long_query_keeps_the_scope_and_hashes_the_request),
	    cmocka_unit_test(test_key_never_cuts_whatever_the_lengths),
	    cmocka_unit_test(test_key_scopes_differ_by_role_organization_and_provider),
	    cmocka_unit_test(test_query_names_refuse_a_repeated_name),
	    cmocka_unit_test(test_query_names_refuse_no_value_and_no_name),
	    cmocka_unit_test(test_query_names_ignore_empty_segments),
	    cmocka_unit_test(test_hash_secrets_differ_so_do_buckets),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
