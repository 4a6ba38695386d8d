/*
 * test_admit.c: the expected-wait estimator that admits work to a backend pool (admit.h,
 * issue 8): the average it keeps, the wait it expects, and the admission rule with its two
 * safety valves (a free thread admits anything; a long-running youngest task raises the
 * planned service time). Time is passed in, so every case is exact.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "admit.h"

#define MS 1000ULL
#define NOW (1000000ULL * MS)

/* An estimate whose average is exactly s_us. */
static struct admit
test_admit_at(uint64_t s_us)
{
	struct admit a;

	memset(&a, 0, sizeof(a));
	admit_observe(&a, s_us);
	return a;
}

static struct admit_view
test_view(size_t queued, size_t running, int nthreads, uint64_t youngest_age_us)
{
	struct admit_view v = {queued, running, nthreads, youngest_age_us};

	return v;
}

static void
test_first_sample_is_the_average(void **state)
{
	struct admit a = test_admit_at(40 * MS);

	(void)state;
	assert_int_equal(a.service_us, 40 * MS);
	assert_int_equal(a.samples, 1);
}

static void
test_average_moves_an_eighth_towards_each_sample(void **state)
{
	struct admit a = test_admit_at(80 * MS);

	(void)state;
	admit_observe(&a, 160 * MS);
	assert_int_equal(a.service_us, 90 * MS);
	admit_observe(&a, 10 * MS);
	assert_int_equal(a.service_us, 80 * MS);
}

static void
test_average_follows_a_slower_store_within_a_few_dozen_tasks(void **state)
{
	struct admit a = test_admit_at(5 * MS);
	int i;

	(void)state;
	for (i = 0; i < 32; i++)
		admit_observe(&a, 500 * MS);
	assert_true(a.service_us > 480 * MS);
	assert_true(a.service_us <= 500 * MS);
}

static void
test_no_wait_while_a_thread_is_free(void **state)
{
	struct admit a = test_admit_at(100 * MS);
	struct admit_view v = test_view(0, 3, 4, 50 * MS);

	(void)state;
	assert_int_equal(admit_expected_wait_us(&a, &v), 0);
}

static void
test_wait_is_queue_times_service_over_threads_plus_half_a_task(void **state)
{
	struct admit a = test_admit_at(40 * MS);
	struct admit_view v = test_view(8, 4, 4, 1 * MS);

	(void)state;
	/* 8 queued * 40 ms / 4 threads + 20 ms */
	assert_int_equal(admit_expected_wait_us(&a, &v), 100 * MS);
}

static void
test_admits_what_fits_in_the_budget(void **state)
{
	struct admit a = test_admit_at(10 * MS);
	struct admit_view v = test_view(40, 4, 4, 1 * MS);

	(void)state;
	/* wait 40 * 10 / 4 + 5 = 105 ms, plus 10 ms of its own: 115 ms <= 150 ms */
	assert_int_equal(admit_allow(&a, &v, NOW, NOW + 150 * MS), 1);
	assert_int_equal(admit_allow(&a, &v, NOW, NOW + 115 * MS), 1);
}

static void
test_refuses_what_would_finish_past_its_budget(void **state)
{
	struct admit a = test_admit_at(10 * MS);
	struct admit_view v = test_view(60, 4, 4, 1 * MS);

	(void)state;
	/* wait 60 * 10 / 4 + 5 = 155 ms: past a 150 ms budget before it even starts */
	assert_int_equal(admit_allow(&a, &v, NOW, NOW + 150 * MS), 0);
	/* the same queue for a search (300 ms) still fits */
	assert_int_equal(admit_allow(&a, &v, NOW, NOW + 300 * MS), 1);
}

static void
test_refuses_even_an_empty_queue_when_one_task_outlasts_the_budget(void **state)
{
	struct admit a = test_admit_at(400 * MS); /* a slow scan */
	struct admit_view v = test_view(0, 4, 4, 1 * MS);

	(void)state;
	assert_int_equal(admit_allow(&a, &v, NOW, NOW + 200 * MS), 0);
}

static void
test_a_free_thread_admits_whatever_the_average_says(void **state)
{
	struct admit a = test_admit_at(400 * MS);
	struct admit_view v = test_view(0, 3, 4, 1 * MS);

	(void)state;
	/* the task runs at once and its time corrects the average */
	assert_int_equal(admit_allow(&a, &v, NOW, NOW + 200 * MS), 1);
}

static void
test_a_task_without_budget_is_always_admitted(void **state)
{
	struct admit a = test_admit_at(10 * 1000 * MS);
	struct admit_view v = test_view(1000, 4, 4, 60 * 1000 * MS);

	(void)state;
	assert_int_equal(admit_allow(&a, &v, NOW, 0), 1);
}

static void
test_busy_threads_older_than_the_average_raise_the_estimate(void **state)
{
	struct admit a; /* cold: no sample yet */
	struct admit_view v = test_view(0, 4, 4, 700 * MS);

	(void)state;
	memset(&a, 0, sizeof(a));
	/* the youngest running task has run 700 ms: plan with that, not with 0 */
	assert_int_equal(admit_service_us(&a, &v), 700 * MS);
	assert_int_equal(admit_allow(&a, &v, NOW, NOW + 150 * MS), 0);
	/* the same age does not count while a thread is free */
	v = test_view(0, 3, 4, 700 * MS);
	assert_int_equal(admit_service_us(&a, &v), 0);
}

static void
test_a_queued_task_makes_the_pool_busy_even_with_a_thread_idle(void **state)
{
	struct admit a = test_admit_at(400 * MS);
	struct admit_view v = test_view(1, 3, 4, 1 * MS);

	(void)state;
	/* a thread is about to take the queued task: this one waits behind it */
	assert_int_equal(admit_allow(&a, &v, NOW, NOW + 200 * MS), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_first_sample_is_the_average),
	    cmocka_unit_test(test_average_moves_an_eighth_towards_each_sample),
	    cmocka_unit_test(test_average_follows_a_slower_store_within_a_few_dozen_tasks),
	    cmocka_unit_test(test_no_wait_while_a_thread_is_free),
	    cmocka_unit_test(test_wait_is_queue_times_service_over_threads_plus_half_a_task),
	    cmocka_unit_test(test_admits_what_fits_in_the_budget),
	    cmocka_unit_test(test_refuses_what_would_finish_past_its_budget),
	    cmocka_unit_test(test_refuses_even_an_empty_queue_when_one_task_outlasts_the_budget),
	    cmocka_unit_test(test_a_free_thread_admits_whatever_the_average_says),
	    cmocka_unit_test(test_a_task_without_budget_is_always_admitted),
	    cmocka_unit_test(test_busy_threads_older_than_the_average_raise_the_estimate),
	    cmocka_unit_test(test_a_queued_task_makes_the_pool_busy_even_with_a_thread_idle),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
