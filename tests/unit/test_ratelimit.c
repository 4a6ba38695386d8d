/*
 * test_ratelimit.c: the token buckets of ratelimit.h (issue 10): the refill arithmetic (a
 * clock that goes backwards, a huge elapsed time, the cap), taking and refusing, one bucket
 * per key, the table full (overflow bucket, no eviction of buckets in use, eviction of full
 * ones), a stale lock taken over and a busy one let through, the header values, and one
 * bucket shared by two processes. Time is passed in, so every case is exact.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "ratelimit.h"
#include "shm.h"

#define T0 1000000ULL /* ms */
#define CLS SHM_CLASS_ORGANIZATION

static const struct config_rate shape = {2, 3}; /* 2 a second, bursts of 3 */

static struct shm_region *
test_region(void)
{
	char err[256];
	struct shm_region *r = shm_create(err, sizeof(err));

	assert_non_null(r);
	return r;
}

static void
test_refill_is_exact_and_capped(void **state)
{
	(void)state;
	/* 2 tokens a second: 2 milli a ms */
	assert_int_equal(ratelimit_refill(0, T0, T0 + 1, &shape), 2);
	assert_int_equal(ratelimit_refill(0, T0, T0 + 500, &shape), 1000);
	assert_int_equal(ratelimit_refill(1000, T0, T0 + 1000, &shape), 3000);
	assert_int_equal(ratelimit_refill(2999, T0, T0 + 1, &shape), 3000); /* the cap */
	assert_int_equal(ratelimit_refill(5000, T0, T0, &shape), 3000);	    /* over the cap */
}

static void
test_refill_with_the_clock_going_backwards_adds_nothing(void **state)
{
	(void)state;
	assert_int_equal(ratelimit_refill(1234, T0, T0 - 1, &shape), 1234);
	assert_int_equal(ratelimit_refill(1234, T0, 0, &shape), 1234);
	assert_int_equal(ratelimit_refill(1234, T0, T0, &shape), 1234);
}

static void
test_refill_after_a_huge_elapsed_time_fills_without_overflow(void **state)
{
	const struct config_rate big = {CONFIG_RATE_MAX, CONFIG_RATE_MAX};

	(void)state;
	assert_int_equal(ratelimit_refill(0, 0, UINT64_MAX, &shape), 3000);
	assert_int_equal(ratelimit_refill(0, 1, UINT64_MAX, &big),
			 (int64_t)CONFIG_RATE_MAX * RATELIMIT_MILLI);
	assert_int_equal(ratelimit_refill(-5, 0, 1, &shape), 2); /* never below empty */
}

static void
test_seconds_until_rounds_up(void **state)
{
	(void)state;
	assert_int_equal(ratelimit_seconds_until(0, 1000, &shape), 1); /* 500 ms */
	assert_int_equal(ratelimit_seconds_until(0, 3000, &shape), 2); /* 1500 ms */
	assert_int_equal(ratelimit_seconds_until(3000, 3000, &shape), 0);
	assert_int_equal(ratelimit_seconds_until(999, 1000, &shape), 1); /* 1 ms */
}

static void
test_a_bucket_gives_its_burst_then_refuses_then_refills(void **state)
{
	struct shm_region *r = test_region();
	struct ratelimit_verdict v;
	uint64_t k = ratelimit_key(r, CLS, "alice", 5);
	int i;

	(void)state;
	for (i = 0; i < 3; i++) {
		assert_int_equal(ratelimit_take(r, CLS, &shape, k, T0, &v), 1);
		assert_int_equal(v.known, 1);
		assert_int_equal(v.remaining, (uint64_t)(2 - i));
	}
	assert_int_equal(ratelimit_take(r, CLS, &shape, k, T0, &v), 0);
	assert_int_equal(v.remaining, 0);
	assert_int_equal(v.retry_after, 1);
	assert_int_equal(v.reset, 2);
	assert_int_equal(r->ratelimit.limited[CLS], 1);
	/* a refusal takes nothing: half a second later there is exactly one token */
	assert_int_equal(ratelimit_take(r, CLS, &shape, k, T0 + 499, &v), 0);
	assert_int_equal(ratelimit_take(r, CLS, &shape, k, T0 + 500, &v), 1);
	assert_int_equal(ratelimit_take(r, CLS, &shape, k, T0 + 500, &v), 0);
	/* a reading from the past (another process's, taken earlier) refills nothing */
	assert_int_equal(ratelimit_take(r, CLS, &shape, k, T0 + 100, &v), 0);
	assert_int_equal(ratelimit_take(r, CLS, &shape, k, T0 + 1000, &v), 1);
	shm_destroy(r);
}

static void
test_callers_and_classes_have_their_own_buckets(void **state)
{
	struct shm_region *r = test_region();
	struct ratelimit_verdict v;
	uint64_t a = ratelimit_key(r, CLS, "alice", 5);
	uint64_t b = ratelimit_key(r, CLS, "bob", 3);
	uint64_t a_clinic = ratelimit_key(r, SHM_CLASS_CLINIC, "alice", 5);
	int i;

	(void)state;
	assert_true(a != b && a != a_clinic);
	assert_true(a == ratelimit_key(r, CLS, "alice", 5));
	for (i = 0; i < 3; i++)
		ratelimit_take(r, CLS, &shape, a, T0, &v);
	assert_int_equal(ratelimit_take(r, CLS, &shape, a, T0, &v), 0);
	assert_int_equal(ratelimit_take(r, CLS, &shape, b, T0, &v), 1);
	assert_int_equal(v.remaining, 2);
	assert_int_equal(ratelimit_take(r, SHM_CLASS_CLINIC, &shape, a_clinic, T0, &v), 1);
	shm_destroy(r);
}

/* Keys that all start at slot `at` of the table. */
static uint64_t
test_key_at(size_t at, uint64_t n)
{
	return (uint64_t)at + (n + 1) * SHM_RL_SLOTS;
}

static void
test_a_full_window_sends_new_callers_to_the_overflow_bucket(void **state)
{
	struct shm_region *r = test_region();
	struct ratelimit_verdict v;
	uint64_t i;

	(void)state;
	/* SHM_RL_PROBE callers in use fill the window of slot 100 */
	for (i = 0; i < SHM_RL_PROBE; i++) {
		assert_int_equal(ratelimit_take(r, CLS, &shape, test_key_at(100, i), T0, &v), 1);
		assert_int_equal(v.overflow, 0);
	}
	/* a caller charged to the shared bucket is told no more than its own policy allows
	 * (RateLimit r <= RateLimit-Policy q): the shared bucket holds 8 x 3 */
	assert_int_equal(ratelimit_take(r, CLS, &shape, test_key_at(100, 900), T0, &v), 1);
	assert_int_equal(v.overflow, 1);
	assert_true(v.remaining <= (uint64_t)shape.burst);
	/* a flood of new callers there evicts none of them and gets the shared bucket */
	for (i = SHM_RL_PROBE; i < SHM_RL_PROBE + 100; i++)
		ratelimit_take(r, CLS, &shape, test_key_at(100, i), T0, &v);
	assert_int_equal(v.overflow, 1);
	assert_int_equal(v.allowed, 0); /* 8 x 3 tokens shared by 101 callers */
	assert_int_equal(r->ratelimit.overflowed[CLS], 101);
	for (i = 0; i < SHM_RL_PROBE; i++) {
		assert_int_equal(ratelimit_take(r, CLS, &shape, test_key_at(100, i), T0, &v), 1);
		assert_int_equal(v.overflow, 0);
		assert_int_equal(v.remaining, 1); /* still its own bucket: 3 - 2 */
	}
	/* once they are full again they may be replaced, and nothing is lost by it */
	assert_int_equal(ratelimit_take(r, CLS, &shape, test_key_at(100, 500), T0 + 1000, &v), 1);
	assert_int_equal(v.overflow, 0);
	assert_int_equal(v.remaining, 2);
	shm_destroy(r);
}

/* Attack: a flood from many addresses (an IPv6 block holds billions) fills every window with
 * address buckets in use. Before the fix a verified caller new to such a window was sent to
 * the overflow bucket the flood drains, and refused: anonymous traffic degraded tenants. Now
 * address buckets take only the even slots of the table, so at most RATELIMIT_ADDRESS_PROBE
 * slots of any window, whatever slots the flood's keys hash to. */
static void
test_an_address_flood_leaves_room_for_verified_callers(void **state)
{
	struct shm_region *r = test_region();
	struct ratelimit_verdict v;
	uint64_t i;

	size_t at;

	(void)state;
	/* windows overlap: the flood comes at every slot around 100, not only at 100 */
	for (at = 100 - SHM_RL_PROBE; at <= 100 + SHM_RL_PROBE; at++)
		for (i = 0; i < SHM_RL_PROBE + 20; i++)
			ratelimit_take(r, CLS, &shape, test_key_at(at, i) | RATELIMIT_KEY_ADDRESS,
				       T0, &v);
	assert_int_equal(v.overflow, 1);
	assert_int_equal(v.allowed, 0); /* the flood drained the shared bucket */
	for (i = 0; i < SHM_RL_PROBE - RATELIMIT_ADDRESS_PROBE; i++) {
		assert_int_equal(
		    ratelimit_take(r, CLS, &shape, test_key_at(100, 1000 + i), T0, &v), 1);
		assert_int_equal(v.overflow, 0);
		assert_int_equal(v.remaining, 2);
	}
	shm_destroy(r);
}

/* The caller bytes of a peer address: IPv4 whole; IPv6 by its /64 (one host is normally given
 * a whole /64, so per-address buckets there are no limit at all); an IPv4-mapped IPv6 address
 * is the IPv4 client it names. */
static void
test_peer_addresses_are_keyed_by_host_or_ipv6_prefix(void **state)
{
	struct sockaddr_in6 a6, b6, m6;
	struct sockaddr_in a4;
	unsigned char x[RATELIMIT_PEER_MAX], y[RATELIMIT_PEER_MAX];
	size_t nx, ny;

	(void)state;
	memset(&a6, 0, sizeof(a6));
	a6.sin6_family = AF_INET6;
	inet_pton(AF_INET6, "2001:db8:1:2::1", &a6.sin6_addr);
	b6 = a6;
	inet_pton(AF_INET6, "2001:db8:1:2:dead:beef:0:7", &b6.sin6_addr);
	nx = ratelimit_peer((struct sockaddr *)&a6, sizeof(a6), x);
	ny = ratelimit_peer((struct sockaddr *)&b6, sizeof(b6), y);
	assert_int_equal(nx, ny);
	assert_memory_equal(x, y, nx); /* one /64, one bucket */
	inet_pton(AF_INET6, "2001:db8:1:3::1", &b6.sin6_addr);
	ny = ratelimit_peer((struct sockaddr *)&b6, sizeof(b6), y);
	assert_true(nx != ny || memcmp(x, y, nx) != 0); /* another /64 */

	memset(&a4, 0, sizeof(a4));
	a4.sin_family = AF_INET;
	inet_pton(AF_INET, "192.0.2.7", &a4.sin_addr);
	m6 = a6;
	inet_pton(AF_INET6, "::ffff:192.0.2.7", &m6.sin6_addr);
	nx = ratelimit_peer((struct sockaddr *)&a4, sizeof(a4), x);
	ny = ratelimit_peer((struct sockaddr *)&m6, sizeof(m6), y);
	assert_int_equal(nx, ny);
	assert_memory_equal(x, y, nx);
	inet_pton(AF_INET, "192.0.2.8", &a4.sin_addr);
	ny = ratelimit_peer((struct sockaddr *)&a4, sizeof(a4), y);
	assert_memory_not_equal(x, y, nx); /* IPv4: every address its own */
	assert_int_equal(x[0], 'a');
	/* unknown peers share one bucket */
	assert_int_equal(ratelimit_peer(NULL, 0, x), 2);
}

static void
test_a_stale_lock_is_taken_over_and_a_busy_one_lets_the_request_through(void **state)
{
	struct shm_region *r = test_region();
	struct ratelimit_verdict v;
	uint64_t k = test_key_at(7, 0);

	(void)state;
	/* a holder that died inside the lock long ago */
	atomic_store(&r->ratelimit.slots[7].lock, T0 - SHM_RL_LOCK_STALE_MS - 10);
	assert_int_equal(ratelimit_take(r, CLS, &shape, k, T0, &v), 1);
	assert_int_equal(v.known, 1);
	assert_int_equal(atomic_load(&r->ratelimit.slots[7].lock), 0);
	/* a lock taken just now: the request goes on unmetered */
	atomic_store(&r->ratelimit.slots[7].lock, T0 + 1);
	assert_int_equal(ratelimit_take(r, CLS, &shape, k, T0, &v), 1);
	assert_int_equal(v.known, 0);
	assert_int_equal(r->ratelimit.lock_busy, 1);
	shm_destroy(r);
}

static void
test_policy_and_headers(void **state)
{
	struct config c;
	struct ratelimit_verdict v = {.allowed = 1, .known = 1, .remaining = 4, .reset = 1};
	char policy[96], st[96];

	(void)state;
	config_defaults(&c);
	assert_null(ratelimit_policy(&c, SHM_CLASS_HEALTH));
	assert_null(ratelimit_policy(&c, SHM_CLASS_PERFORMANCE));
	assert_null(ratelimit_policy(&c, SHM_CLASS_OTHER));
	assert_ptr_equal(ratelimit_policy(&c, SHM_CLASS_LIST), &c.ratelimit_list);
	c.ratelimit_list.rate = 0;
	assert_null(ratelimit_policy(&c, SHM_CLASS_LIST));
	c.ratelimit_enabled = 0;
	assert_null(ratelimit_policy(&c, SHM_CLASS_ORGANIZATION));
	ratelimit_headers(SHM_CLASS_ORGANIZATION, &(struct config_rate){1, 5}, &v, policy,
			  sizeof(policy), st, sizeof(st));
	assert_string_equal(policy, "\"organization\";q=5;w=5");
	assert_string_equal(st, "\"organization\";r=4;t=1");
	ratelimit_headers(SHM_CLASS_LIST, &(struct config_rate){1000, 10}, &v, policy,
			  sizeof(policy), st, sizeof(st));
	assert_string_equal(policy, "\"list\";q=10;w=1");
}

static void
test_two_processes_share_one_bucket(void **state)
{
	struct shm_region *r = test_region();
	const struct config_rate slow = {1, 10};
	struct ratelimit_verdict v;
	uint64_t k = ratelimit_key(r, CLS, "shared", 6);
	pid_t pid;
	int i, status, passed = 0;

	(void)state;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		for (i = 0; i < 6; i++)
			ratelimit_take(r, CLS, &slow, k, T0, &v);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	for (i = 0; i < 10; i++)
		passed += ratelimit_take(r, CLS, &slow, k, T0, &v);
	assert_int_equal(passed, 4); /* the child took 6 of the 10 */
	shm_destroy(r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_refill_is_exact_and_capped),
	    cmocka_unit_test(test_refill_with_the_clock_going_backwards_adds_nothing),
	    cmocka_unit_test(test_refill_after_a_huge_elapsed_time_fills_without_overflow),
	    cmocka_unit_test(test_seconds_until_rounds_up),
	    cmocka_unit_test(test_a_bucket_gives_its_burst_then_refuses_then_refills),
	    cmocka_unit_test(test_callers_and_classes_have_their_own_buckets),
	    cmocka_unit_test(test_a_full_window_sends_new_callers_to_the_overflow_bucket),
	    cmocka_unit_test(
		test_a_stale_lock_is_taken_over_and_a_busy_one_lets_the_request_through),
	    cmocka_unit_test(test_an_address_flood_leaves_room_for_verified_callers),
	    cmocka_unit_test(test_peer_addresses_are_keyed_by_host_or_ipv6_prefix),
	    cmocka_unit_test(test_policy_and_headers),
	    cmocka_unit_test(test_two_processes_share_one_bucket),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
