/*
 * test_breaker.c: the circuit breaker's state machine (CLOSED -> OPEN -> HALF_OPEN -> CLOSED
 * or OPEN again), its one-probe rule, and that concurrent failures open it exactly once.
 *
 * Time is passed in, so every test is exact: the breaker opens at T0 and its timeout is
 * TIMEOUT ms.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <string.h>

#include "breaker.h"

#define T0 100000
#define TIMEOUT 1000

static const struct breaker_config test_conf = {1, 3, 2, TIMEOUT};

static void
test_fail_n(struct shm_breaker *b, const struct breaker_config *c, int n, uint64_t now)
{
	int i;

	for (i = 0; i < n; i++)
		breaker_failure(b, c, now);
}

/* A breaker opened at T0 by failure_threshold failures. */
static void
test_open_at_t0(struct shm_breaker *b)
{
	memset(b, 0, sizeof(*b));
	test_fail_n(b, &test_conf, test_conf.failure_threshold, T0);
	assert_int_equal(breaker_state(b), SHM_BREAKER_OPEN);
}

static void
test_closed_opens_after_failure_threshold_failures(void **state)
{
	struct shm_breaker b;

	(void)state;
	memset(&b, 0, sizeof(b));
	assert_int_equal(breaker_state(&b), SHM_BREAKER_CLOSED);
	test_fail_n(&b, &test_conf, test_conf.failure_threshold - 1, T0);
	assert_int_equal(breaker_state(&b), SHM_BREAKER_CLOSED);
	assert_true(breaker_allow(&b, &test_conf, T0));
	breaker_failure(&b, &test_conf, T0);
	assert_int_equal(breaker_state(&b), SHM_BREAKER_OPEN);
	assert_int_equal(atomic_load(&b.opens), 1);
	assert_int_equal(atomic_load(&b.opened_at_ms), T0);
}

static void
test_open_refuses_until_the_timeout_has_passed(void **state)
{
	struct shm_breaker b;

	(void)state;
	test_open_at_t0(&b);
	assert_false(breaker_allow(&b, &test_conf, T0));
	assert_false(breaker_allow(&b, &test_conf, T0 + TIMEOUT / 2));
	assert_false(breaker_allow(&b, &test_conf, T0 + TIMEOUT - 1));
	assert_int_equal(breaker_state(&b), SHM_BREAKER_OPEN);
	assert_true(breaker_allow(&b, &test_conf, T0 + TIMEOUT));
	assert_int_equal(breaker_state(&b), SHM_BREAKER_HALF_OPEN);
}

static void
test_refuses_peeks_without_taking_the_probe(void **state)
{
	struct shm_breaker b;

	(void)state;
	memset(&b, 0, sizeof(b));
	assert_false(breaker_refuses(&b, &test_conf, T0)); /* closed */
	test_open_at_t0(&b);
	assert_true(breaker_refuses(&b, &test_conf, T0));
	assert_true(breaker_refuses(&b, &test_conf, T0 + TIMEOUT - 1));
	/* time is up: not refused, and still OPEN: the probe is left to breaker_allow */
	assert_false(breaker_refuses(&b, &test_conf, T0 + TIMEOUT));
	assert_int_equal(breaker_state(&b), SHM_BREAKER_OPEN);
	assert_true(breaker_allow(&b, &test_conf, T0 + TIMEOUT));
	/* a probe is out: every other caller is refused until it reports or is forgotten */
	assert_true(breaker_refuses(&b, &test_conf, T0 + TIMEOUT + 1));
	assert_false(breaker_refuses(&b, &test_conf, T0 + 2 * TIMEOUT));
	/* a disabled breaker never refuses */
	{
		struct breaker_config off = test_conf;

		off.enabled = 0;
		test_open_at_t0(&b);
		assert_false(breaker_refuses(&b, &off, T0));
	}
}

static void
test_half_open_admits_one_probe_and_refuses_a_second_caller(void **state)
{
	struct shm_breaker b;

	(void)state;
	test_open_at_t0(&b);
	assert_true(breaker_allow(&b, &test_conf, T0 + TIMEOUT));
	assert_false(breaker_allow(&b, &test_conf, T0 + TIMEOUT));
	assert_false(breaker_allow(&b, &test_conf, T0 + TIMEOUT + 10));
	assert_int_equal(breaker_state(&b), SHM_BREAKER_HALF_OPEN);
}

static void
test_a_probe_that_never_reports_is_forgotten_after_another_timeout(void **state)
{
	struct shm_breaker b;

	(void)state;
	test_open_at_t0(&b);
	assert_true(breaker_allow(&b, &test_conf, T0 + TIMEOUT));
	assert_false(breaker_allow(&b, &test_conf, T0 + 2 * TIMEOUT - 1));
	assert_true(breaker_allow(&b, &test_conf, T0 + 2 * TIMEOUT));
}

static void
test_half_open_closes_after_success_threshold_successes(void **state)
{
	struct shm_breaker b;

	(void)state;
	test_open_at_t0(&b);
	assert_true(breaker_allow(&b, &test_conf, T0 + TIMEOUT));
	breaker_success(&b, &test_conf);
	/* one success of two: still half-open, and the next caller may probe */
	assert_int_equal(breaker_state(&b), SHM_BREAKER_HALF_OPEN);
	assert_true(breaker_allow(&b, &test_conf, T0 + TIMEOUT + 1));
	assert_false(breaker_allow(&b, &test_conf, T0 + TIMEOUT + 1));
	breaker_success(&b, &test_conf);
	assert_int_equal(breaker_state(&b), SHM_BREAKER_CLOSED);
	assert_true(breaker_allow(&b, &test_conf, T0 + TIMEOUT + 2));
	assert_true(breaker_allow(&b, &test_conf, T0 + TIMEOUT + 2));
	assert_int_equal(atomic_load(&b.opens), 1);
}

static void
test_half_open_failure_opens_it_again(void **state)
{
	struct shm_breaker b;
	uint64_t t = T0 + TIMEOUT;

	(void)state;
	test_open_at_t0(&b);
	assert_true(breaker_allow(&b, &test_conf, t));
	breaker_failure(&b, &test_conf, t + 5);
	assert_int_equal(breaker_state(&b), SHM_BREAKER_OPEN);
	assert_int_equal(atomic_load(&b.opens), 2);
	/* the new timeout runs from the failed probe */
	assert_false(breaker_allow(&b, &test_conf, t + 5 + TIMEOUT - 1));
	assert_true(breaker_allow(&b, &test_conf, t + 5 + TIMEOUT));
}

static void
test_a_success_resets_consecutive_failures(void **state)
{
	struct shm_breaker b;

	(void)state;
	memset(&b, 0, sizeof(b));
	test_fail_n(&b, &test_conf, test_conf.failure_threshold - 1, T0);
	breaker_success(&b, &test_conf);
	test_fail_n(&b, &test_conf, test_conf.failure_threshold - 1, T0);
	assert_int_equal(breaker_state(&b), SHM_BREAKER_CLOSED);
	breaker_failure(&b, &test_conf, T0);
	assert_int_equal(breaker_state(&b), SHM_BREAKER_OPEN);
}

static void
test_a_late_success_while_open_changes_nothing(void **state)
{
	struct shm_breaker b;

	(void)state;
	test_open_at_t0(&b);
	breaker_success(&b, &test_conf);
	assert_int_equal(breaker_state(&b), SHM_BREAKER_OPEN);
	assert_false(breaker_allow(&b, &test_conf, T0 + 1));
}

static void
test_disabled_breaker_always_allows(void **state)
{
	struct breaker_config off = test_conf;
	struct shm_breaker b;

	(void)state;
	off.enabled = 0;
	memset(&b, 0, sizeof(b));
	test_fail_n(&b, &off, 100, T0);
	assert_int_equal(breaker_state(&b), SHM_BREAKER_CLOSED);
	assert_true(breaker_allow(&b, &off, T0));
	assert_int_equal(atomic_load(&b.opens), 0);
}

struct test_racer {
	struct shm_breaker *b;
	pthread_barrier_t *start;
};

static void *
test_racer_main(void *arg)
{
	struct test_racer *r = arg;
	struct breaker_config c = {1, 5, 2, 60000};

	pthread_barrier_wait(r->start);
	test_fail_n(r->b, &c, 1000, T0);
	return NULL;
}

static void
test_concurrent_failures_from_four_threads_open_it_exactly_once(void **state)
{
	struct shm_breaker b;
	pthread_barrier_t start;
	pthread_t tids[4];
	struct test_racer r;
	int round, i;

	(void)state;
	/* several rounds, so that the threads really meet at the threshold */
	for (round = 0; round < 50; round++) {
		memset(&b, 0, sizeof(b));
		r.b = &b;
		r.start = &start;
		pthread_barrier_init(&start, NULL, 4);
		for (i = 0; i < 4; i++)
			assert_int_equal(pthread_create(&tids[i], NULL, test_racer_main, &r), 0);
		for (i = 0; i < 4; i++)
			pthread_join(tids[i], NULL);
		pthread_barrier_destroy(&start);
		assert_int_equal(breaker_state(&b), SHM_BREAKER_OPEN);
		assert_int_equal(atomic_load(&b.opens), 1);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_closed_opens_after_failure_threshold_failures),
	    cmocka_unit_test(test_open_refuses_until_the_timeout_has_passed),
	    cmocka_unit_test(test_half_open_admits_one_probe_and_refuses_a_second_caller),
	    cmocka_unit_test(test_a_probe_that_never_reports_is_forgotten_after_another_timeout),
	    cmocka_unit_test(test_half_open_closes_after_success_threshold_successes),
	    cmocka_unit_test(test_half_open_failure_opens_it_again),
	    cmocka_unit_test(test_a_success_resets_consecutive_failures),
	    cmocka_unit_test(test_a_late_success_while_open_changes_nothing),
	    cmocka_unit_test(test_refuses_peeks_without_taking_the_probe),
	    cmocka_unit_test(test_disabled_breaker_always_allows),
	    cmocka_unit_test(test_concurrent_failures_from_four_threads_open_it_exactly_once),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
