/*
 * test_seed.c: the random numbers of tools/seed (tools/seed_rng.h). Seeded data sets are
 * promised to be the same for the same seed, so the generator's outputs are pinned here: a
 * failure means every data set changed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../../tools/seed_rng.h"

#define TEST_DRAWS 100000

/* The reference splitmix64 (Vigna's splitmix64.c) from state 0 and from 1234567. */
static void
test_rng_matches_reference_splitmix64(void **state)
{
	struct seed_rng r = {0};

	assert_true(seed_rng_next(&r) == UINT64_C(0xe220a8397b1dcdaf));
	assert_true(seed_rng_next(&r) == UINT64_C(0x6e789e6aa1b965f4));
	assert_true(seed_rng_next(&r) == UINT64_C(0x06c45d188009454f));
	r.state = 1234567;
	assert_true(seed_rng_next(&r) == UINT64_C(0x599ed017fb08fc85));
	assert_true(seed_rng_next(&r) == UINT64_C(0x2c73f08458540fa5));
	assert_true(seed_rng_next(&r) == UINT64_C(0x883ebce5a3f27c77));
}

/* The per-organization streams of seed 7 (purpose 2 is an organization's stream). */
static void
test_rng_streams_are_pinned(void **state)
{
	struct seed_rng r;

	seed_rng_init(&r, 7, 2, 0);
	assert_true(r.state == UINT64_C(0x82f763ff75b37a1d));
	assert_true(seed_rng_next(&r) == UINT64_C(0x4e4f0ab791592d9e));
	assert_true(seed_rng_next(&r) == UINT64_C(0x4cac1d9a845deabb));
	seed_rng_init(&r, 7, 2, 1);
	assert_true(r.state == UINT64_C(0x1399d95495074758));
	assert_true(seed_rng_next(&r) == UINT64_C(0xda6b7b01740d219a));
}

/* Neighbouring indexes, purposes and seeds must not give shifted copies of one sequence. */
static void
test_rng_streams_do_not_overlap(void **state)
{
	struct seed_rng a, b;
	uint64_t first[64];
	int i, j;

	seed_rng_init(&a, 1, 2, 0);
	for (i = 0; i < 64; i++)
		first[i] = seed_rng_next(&a);
	for (j = 1; j < 64; j++) {
		seed_rng_init(&b, 1, 2, (uint64_t)j);
		for (i = 0; i < 64; i++)
			assert_true(seed_rng_next(&b) != first[i]);
	}
	seed_rng_init(&b, 1, 3, 0);
	assert_true(seed_rng_next(&b) != first[0]);
	seed_rng_init(&b, 2, 2, 0);
	assert_true(seed_rng_next(&b) != first[0]);
}

static void
test_rng_below_stays_in_range_and_reaches_every_value(void **state)
{
	struct seed_rng r = {42};
	int seen[7] = {0}, i;
	uint32_t x;

	for (i = 0; i < TEST_DRAWS; i++) {
		x = seed_rng_below(&r, 7);
		assert_true(x < 7);
		seen[x]++;
	}
	/* uniform enough: each value within 5% of its share */
	for (i = 0; i < 7; i++)
		assert_true(seen[i] > TEST_DRAWS / 7 * 95 / 100 &&
			    seen[i] < TEST_DRAWS / 7 * 105 / 100);
	for (i = 0; i < 1000; i++)
		assert_int_equal(seed_rng_below(&r, 1), 0);
}

static void
test_rng_range_and_time_include_both_ends(void **state)
{
	struct seed_rng r = {9};
	int lo = 0, hi = 0, i;
	uint32_t x;
	int64_t t;

	for (i = 0; i < TEST_DRAWS; i++) {
		x = seed_rng_range(&r, 3, 5);
		assert_true(x >= 3 && x <= 5);
		lo += x == 3;
		hi += x == 5;
		t = seed_rng_time(&r, 1000, 1002);
		assert_true(t >= 1000 && t <= 1002);
	}
	assert_true(lo > 0 && hi > 0);
	/* an empty or reversed span gives its start */
	assert_true(seed_rng_time(&r, 5000, 5000) == 5000);
	assert_true(seed_rng_time(&r, 5000, 4000) == 5000);
}

static void
test_rng_weighted_follows_weights_and_skips_zero(void **state)
{
	static const unsigned w[] = {0, 70, 0, 30, 0};
	struct seed_rng r = {5};
	int count[5] = {0}, i;

	for (i = 0; i < TEST_DRAWS; i++)
		count[seed_rng_weighted(&r, w, 5)]++;
	assert_int_equal(count[0], 0);
	assert_int_equal(count[2], 0);
	assert_int_equal(count[4], 0);
	assert_true(count[1] > TEST_DRAWS * 68 / 100 && count[1] < TEST_DRAWS * 72 / 100);
}

static void
test_rng_percent_bounds(void **state)
{
	struct seed_rng r = {11};
	int i;

	for (i = 0; i < 1000; i++) {
		assert_false(seed_rng_percent(&r, 0));
		assert_true(seed_rng_percent(&r, 100));
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rng_matches_reference_splitmix64),
	    cmocka_unit_test(test_rng_streams_are_pinned),
	    cmocka_unit_test(test_rng_streams_do_not_overlap),
	    cmocka_unit_test(test_rng_below_stays_in_range_and_reaches_every_value),
	    cmocka_unit_test(test_rng_range_and_time_include_both_ends),
	    cmocka_unit_test(test_rng_weighted_follows_weights_and_skips_zero),
	    cmocka_unit_test(test_rng_percent_bounds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
