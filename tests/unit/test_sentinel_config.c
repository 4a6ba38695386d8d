/*
 * test_sentinel_config.c: Redis Sentinel's settings and the shared master address (issue 11):
 * REDIS_SENTINELS parsing, the start check of both directives, and the seqlock through which
 * the monitor's listener hands the master to every worker (a publish moves the generation).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "sentinel.h"
#include "shm.h"

static void
test_a_list_parses_in_order_with_spaces_and_ipv6(void **state)
{
	struct sentinel_addr a[SENTINEL_MAX];
	char err[256];

	(void)state;
	assert_int_equal(sentinel_list_parse(" 10.0.0.1:26379, s2.example:26380 ,[::1]:5000", a,
					     SENTINEL_MAX, err, sizeof(err)),
			 3);
	assert_string_equal(a[0].host, "10.0.0.1");
	assert_int_equal(a[0].port, 26379);
	assert_string_equal(a[1].host, "s2.example");
	assert_int_equal(a[1].port, 26380);
	assert_string_equal(a[2].host, "::1");
	assert_int_equal(a[2].port, 5000);
	assert_int_equal(sentinel_list_parse("", a, SENTINEL_MAX, err, sizeof(err)), 0);
	assert_int_equal(sentinel_list_parse(" , ", a, SENTINEL_MAX, err, sizeof(err)), 0);
}

static void
test_bad_items_are_refused_with_what_is_wrong(void **state)
{
	static const char *const bad[] = {
	    "host",	   "host:",	":26379",     "host:0",	    "host:65536",
	    "host:26379x", "::1:26379", "[::1]26379", "[::1:26379", "a:1,b",
	};
	struct sentinel_addr a[SENTINEL_MAX];
	char err[256];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		if (sentinel_list_parse(bad[i], a, SENTINEL_MAX, err, sizeof(err)) != -1)
			fail_msg("'%s' accepted", bad[i]);
		assert_non_null(strstr(err, "host:port"));
	}
	assert_int_equal(sentinel_list_parse("a:1,b:2,c:3", a, 2, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "more than 2"));
}

static void
test_the_two_directives_go_together(void **state)
{
	static struct config c;
	char err[512];

	(void)state;
	memset(&c, 0, sizeof(c));
	snprintf(c.path, sizeof(c.path), "kore.conf");
	assert_int_equal(sentinel_config_check(&c, err, sizeof(err)), 0);
	assert_int_equal(sentinel_enabled(&c), 0);
	snprintf(c.redis_sentinels, sizeof(c.redis_sentinels), "127.0.0.1:26379");
	assert_int_equal(sentinel_config_check(&c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "REDIS_SENTINEL_MASTER"));
	snprintf(c.redis_sentinel_master, sizeof(c.redis_sentinel_master), "mymaster");
	assert_int_equal(sentinel_config_check(&c, err, sizeof(err)), 0);
	assert_int_equal(sentinel_enabled(&c), 1);
	snprintf(c.redis_sentinels, sizeof(c.redis_sentinels), "127.0.0.1");
	assert_int_equal(sentinel_config_check(&c, err, sizeof(err)), -1);
	snprintf(c.redis_sentinels, sizeof(c.redis_sentinels), ",");
	assert_int_equal(sentinel_config_check(&c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "empty"));
	c.redis_sentinels[0] = '\0';
	assert_int_equal(sentinel_config_check(&c, err, sizeof(err)), -1);
}

/* `enterprised -t` names the line (or the environment variable) of a refused sentinel list
 * (before: only the file, or nothing at all). */
static void
test_a_refused_value_is_named_by_its_line_or_variable(void **state)
{
	static struct config c;
	char err[512];

	(void)state;
	config_defaults(&c);
	assert_int_equal(config_parse(&c, "test.conf",
				      "workers 1\nredis {\n\tsentinels a:99999\n"
				      "\tsentinel_master m\n}\n",
				      err, sizeof(err)),
			 0);
	assert_int_equal(sentinel_config_check(&c, err, sizeof(err)), -1);
	if (strstr(err, "test.conf:3: redis sentinels: 'a:99999'") == NULL)
		fail_msg("%s", err);
	config_defaults(&c);
	assert_int_equal(config_parse(&c, "test.conf", "redis {\n\tsentinel_master m\n}\n",
				      err, sizeof(err)),
			 0);
	assert_int_equal(sentinel_config_check(&c, err, sizeof(err)), -1);
	if (strstr(err, "test.conf:2: redis sentinels and sentinel_master") == NULL)
		fail_msg("%s", err);
	setenv("REDIS_SENTINELS", ",", 1);
	assert_int_equal(config_apply_env(&c, err, sizeof(err)), 0);
	unsetenv("REDIS_SENTINELS");
	assert_int_equal(sentinel_config_check(&c, err, sizeof(err)), -1);
	if (strstr(err, "environment REDIS_SENTINELS: redis sentinels: empty list") == NULL)
		fail_msg("%s", err);
	assert_string_equal(config_where(&c, c.redis_url), c.path); /* the default */
}

static void
test_the_published_master_moves_its_generation(void **state)
{
	char err[256], host[64];
	struct shm_region *r = shm_create(err, sizeof(err));
	uint64_t g1, g2;
	int port = 0;

	(void)state;
	assert_non_null(r);
	assert_int_equal(shm_redis_master_read(r, host, sizeof(host), &port), 0);
	shm_redis_master_publish(r, "10.1.2.3", 6379);
	g1 = shm_redis_master_read(r, host, sizeof(host), &port);
	assert_true(g1 >= 1);
	assert_string_equal(host, "10.1.2.3");
	assert_int_equal(port, 6379);
	assert_int_equal(shm_redis_master_read(r, host, sizeof(host), &port), g1);
	shm_redis_master_publish(r, "a-much-longer-host-name.example", 6380);
	g2 = shm_redis_master_read(r, host, sizeof(host), &port);
	assert_true(g2 > g1);
	assert_string_equal(host, "a-much-longer-host-name.example");
	assert_int_equal(port, 6380);
	/* a host longer than the slot is cut, never overruns */
	shm_redis_master_publish(
	    r, "0123456789012345678901234567890123456789012345678901234567890123456789", 1);
	shm_redis_master_read(r, host, sizeof(host), &port);
	assert_int_equal(strlen(host), 63);
	shm_destroy(r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_a_list_parses_in_order_with_spaces_and_ipv6),
	    cmocka_unit_test(test_bad_items_are_refused_with_what_is_wrong),
	    cmocka_unit_test(test_the_two_directives_go_together),
	    cmocka_unit_test(test_a_refused_value_is_named_by_its_line_or_variable),
	    cmocka_unit_test(test_the_published_master_moves_its_generation),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
