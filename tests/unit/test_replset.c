/*
 * test_replset.c: what the service derives from MONGODB_URI's replica-set options
 * (replset.h, issue 11): per-read-kind read preference, w=majority, the URIs it refuses.
 * Pure: the driver parses the URI, nothing connects.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "replset.h"

static void
derive_ok(const char *uri, struct replset_policy *p)
{
	char err[256] = "";

	if (replset_derive(uri, p, err, sizeof(err)) != 0)
		fail_msg("%s refused: %s", uri, err);
}

static void
derive_refused(const char *uri, const char *why)
{
	struct replset_policy p;
	char err[256] = "";

	if (replset_derive(uri, &p, err, sizeof(err)) == 0)
		fail_msg("%s accepted", uri);
	if (strstr(err, why) == NULL)
		fail_msg("%s: error '%s' does not say '%s'", uri, err, why);
}

static void
test_a_single_node_uri_keeps_the_driver_defaults(void **state)
{
	struct replset_policy p;

	(void)state;
	derive_ok("mongodb://127.0.0.1:27017/enterprise", &p);
	assert_int_equal(p.replica_set, 0);
	assert_int_equal(p.list_mode, MONGOC_READ_PRIMARY);
	assert_int_equal(p.record_mode, MONGOC_READ_PRIMARY);
	assert_int_equal(p.max_staleness_s, MONGOC_NO_MAX_STALENESS);
	assert_int_equal(p.write_majority, 0); /* FerretDB: the driver's w=1 stays */
	assert_int_equal(p.retry_writes, 1);
	assert_int_equal(p.retry_reads, 1);
}

static void
test_a_replica_set_without_w_writes_with_majority(void **state)
{
	struct replset_policy p;

	(void)state;
	derive_ok("mongodb://a:1,b:2,c:3/enterprise?replicaSet=rs0", &p);
	assert_int_equal(p.replica_set, 1);
	assert_int_equal(p.write_majority, 1);
	assert_int_equal(p.majority_is_ours, 1);
}

static void
test_an_explicit_w_is_kept(void **state)
{
	struct replset_policy p;

	(void)state;
	derive_ok("mongodb://a:1,b:2/enterprise?replicaSet=rs0&w=1", &p);
	assert_int_equal(p.write_majority, 0);
	derive_ok("mongodb://a:1/enterprise?w=majority", &p);
	assert_int_equal(p.write_majority, 1);
	assert_int_equal(p.majority_is_ours, 0);
	derive_ok("mongodb://a:1,b:2/enterprise?replicaSet=rs0&w=2", &p);
	assert_int_equal(p.write_majority, 0);
}

static void
test_lists_follow_the_read_preference_and_records_stay_on_the_primary(void **state)
{
	struct replset_policy p;

	(void)state;
	derive_ok("mongodb://a:1,b:2/enterprise?replicaSet=rs0&readPreference=secondaryPreferred"
		  "&maxStalenessSeconds=120",
		  &p);
	assert_int_equal(p.list_mode, MONGOC_READ_SECONDARY_PREFERRED);
	assert_int_equal(p.max_staleness_s, 120);
	assert_int_equal(p.record_mode, MONGOC_READ_PRIMARY);
	assert_string_equal(replset_mode_name(p.list_mode), "secondaryPreferred");
	derive_ok("mongodb://a:1,b:2/enterprise?replicaSet=rs0&readPreference=nearest", &p);
	assert_int_equal(p.list_mode, MONGOC_READ_NEAREST);
	assert_int_equal(p.max_staleness_s, MONGOC_NO_MAX_STALENESS);
	assert_int_equal(p.record_mode, MONGOC_READ_PRIMARY);
}

static void
test_retry_options_are_reported(void **state)
{
	struct replset_policy p;

	(void)state;
	derive_ok("mongodb://a:1/enterprise?replicaSet=rs0&retryWrites=false&retryReads=false", &p);
	assert_int_equal(p.retry_writes, 0);
	assert_int_equal(p.retry_reads, 0);
}

static void
test_unacknowledged_writes_are_refused(void **state)
{
	(void)state;
	derive_refused("mongodb://a:1/enterprise?w=0", "acknowledged");
	derive_refused("mongodb://a:1,b:2/enterprise?replicaSet=rs0&w=0", "acknowledged");
}

static void
test_a_staleness_mongodb_refuses_is_refused_at_start(void **state)
{
	(void)state;
	derive_refused("mongodb://a:1,b:2/enterprise?replicaSet=rs0&readPreference=secondary"
		       "&maxStalenessSeconds=30",
		       "minimum of 90");
	derive_refused("mongodb://a:1,b:2/enterprise?replicaSet=rs0&readPreference=secondary"
		       "&maxStalenessSeconds=89",
		       "minimum of 90");
}

static void
test_a_bad_uri_is_refused(void **state)
{
	(void)state;
	derive_refused("http://a:1/enterprise", "mongodb uri");
	derive_refused("mongodb://a:1/enterprise?readPreference=sometimes", "mongodb uri");
	/* maxStalenessSeconds with primary: the driver or we refuse it, never accepted */
	derive_refused("mongodb://a:1/enterprise?maxStalenessSeconds=120", "mongodb uri");
}

static void
test_apply_puts_the_client_on_the_primary_and_keeps_the_list_preference(void **state)
{
	const char *s = "mongodb://a:1,b:2/enterprise?replicaSet=rs0&readPreference=secondary"
			"&maxStalenessSeconds=100";
	struct replset_policy p;
	mongoc_uri_t *uri;
	mongoc_read_prefs_t *list;

	(void)state;
	derive_ok(s, &p);
	uri = mongoc_uri_new(s);
	assert_non_null(uri);
	list = replset_apply(uri, &p);
	assert_int_equal(mongoc_read_prefs_get_mode(mongoc_uri_get_read_prefs_t(uri)),
			 MONGOC_READ_PRIMARY);
	assert_int_equal(mongoc_read_prefs_get_mode(list), MONGOC_READ_SECONDARY);
	assert_int_equal(mongoc_read_prefs_get_max_staleness_seconds(list), 100);
	assert_true(mongoc_write_concern_get_wmajority(mongoc_uri_get_write_concern(uri)));
	mongoc_read_prefs_destroy(list);
	mongoc_uri_destroy(uri);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_a_single_node_uri_keeps_the_driver_defaults),
	    cmocka_unit_test(test_a_replica_set_without_w_writes_with_majority),
	    cmocka_unit_test(test_an_explicit_w_is_kept),
	    cmocka_unit_test(test_lists_follow_the_read_preference_and_records_stay_on_the_primary),
	    cmocka_unit_test(test_retry_options_are_reported),
	    cmocka_unit_test(test_unacknowledged_writes_are_refused),
	    cmocka_unit_test(test_a_staleness_mongodb_refuses_is_refused_at_start),
	    cmocka_unit_test(test_a_bad_uri_is_refused),
	    cmocka_unit_test(
		test_apply_puts_the_client_on_the_primary_and_keeps_the_list_preference),
	};
	int rc;

	mongoc_init();
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	mongoc_cleanup();
	return rc;
}
