/* test_cache.c: the worker-memory LRU (L1): lookups, bounds, expiry, epochs and counters. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "cache.h"

#define NOW 1000
#define LATER (NOW + 60000)

static const char test_ctype[] = "application/json";

/* splitmix64: a fixed-seed PRNG, so every run does the same operations. */
static uint64_t
test_rand(uint64_t *state)
{
	uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static struct cache_l1 *
test_new(size_t max_entries, size_t max_bytes)
{
	struct cache_l1 *c = cache_l1_new(max_entries, max_bytes);

	assert_non_null(c);
	return c;
}

/* An entry for key with body and etag, expiring at LATER, no deps. */
static struct cache_entry
test_entry(const char *key, const char *body, const char *etag)
{
	struct cache_entry e;

	memset(&e, 0, sizeof(e));
	e.key = key;
	e.key_len = strlen(key);
	e.body = body;
	e.body_len = strlen(body);
	e.etag = etag;
	e.content_type = test_ctype;
	e.expires_ms = LATER;
	return e;
}

static void
test_put(struct cache_l1 *c, const char *key, const char *body)
{
	struct cache_entry e = test_entry(key, body, "W/\"e\"");

	assert_int_equal(cache_l1_put(c, &e), 0);
}

static const struct cache_entry *
test_get(struct cache_l1 *c, const char *key)
{
	return cache_l1_get(c, key, strlen(key), NOW, NULL);
}

static struct cache_l1_stats
test_stats(const struct cache_l1 *c)
{
	struct cache_l1_stats s;

	cache_l1_stats(c, &s);
	return s;
}

static void
test_cache_round_trips_body_etag_and_content_type(void **state)
{
	struct cache_l1 *c = test_new(16, 4096);
	char key[] = "org:v1:42", body[] = "{\"id\":42}", etag[] = "W/\"3f2a\"";
	struct cache_entry e = test_entry(key, body, etag);
	const struct cache_entry *got;

	e.deps[0].slot = 3;
	e.deps[0].value = 7;
	e.ndeps = 1;
	assert_int_equal(cache_l1_put(c, &e), 0);
	/* the cache holds copies: the caller's buffers may change */
	memset(key + 4, 'x', 2);
	memset(body, '?', sizeof(body) - 1);
	etag[3] = 'z';

	{
		_Atomic uint64_t epochs[4] = {0, 0, 0, 7};

		got = cache_l1_get(c, "org:v1:42", 9, NOW, epochs);
	}
	assert_non_null(got);
	assert_int_equal(got->key_len, 9);
	assert_memory_equal(got->key, "org:v1:42", 9);
	assert_int_equal(got->body_len, 9);
	assert_memory_equal(got->body, "{\"id\":42}", 9);
	assert_string_equal(got->etag, "W/\"3f2a\"");
	assert_ptr_equal(got->content_type, test_ctype);
	assert_int_equal(got->expires_ms, LATER);
	assert_int_equal(got->ndeps, 1);
	assert_int_equal(got->deps[0].slot, 3);
	assert_int_equal(got->deps[0].value, 7);
	cache_l1_free(c);
}

static void
test_cache_misses_an_unknown_key(void **state)
{
	struct cache_l1 *c = test_new(16, 4096);

	assert_null(test_get(c, "nope"));
	test_put(c, "org:1", "a");
	assert_null(test_get(c, "org:2"));
	assert_null(test_get(c, "org:"));
	assert_null(test_get(c, "org:11"));
	assert_non_null(test_get(c, "org:1"));
	cache_l1_free(c);
}

static void
test_cache_replace_keeps_one_entry_with_the_new_value(void **state)
{
	struct cache_l1 *c = test_new(16, 4096);
	struct cache_entry e = test_entry("k", "new body", "W/\"2\"");
	const struct cache_entry *got;
	struct cache_l1_stats s;

	test_put(c, "k", "old");
	assert_int_equal(cache_l1_put(c, &e), 0);
	got = test_get(c, "k");
	assert_non_null(got);
	assert_int_equal(got->body_len, 8);
	assert_memory_equal(got->body, "new body", 8);
	assert_string_equal(got->etag, "W/\"2\"");
	s = test_stats(c);
	assert_int_equal(s.entries, 1);
	assert_int_equal(s.bytes, 1 + 8 + 5);
	assert_int_equal(s.evictions, 0);
	cache_l1_free(c);
}

static void
test_cache_put_accepts_an_entry_read_from_the_cache(void **state)
{
	struct cache_l1 *c = test_new(2, 4096);
	const struct cache_entry *got;
	struct cache_entry again;

	test_put(c, "k", "body");
	got = test_get(c, "k");
	assert_non_null(got);
	again = *got; /* points into the entry the put replaces */
	again.expires_ms = LATER + 1;
	assert_int_equal(cache_l1_put(c, &again), 0);
	got = test_get(c, "k");
	assert_non_null(got);
	assert_memory_equal(got->body, "body", 4);
	assert_string_equal(got->etag, "W/\"e\"");
	assert_int_equal(got->expires_ms, LATER + 1);
	assert_int_equal(test_stats(c).entries, 1);
	cache_l1_free(c);
}

static void
test_cache_evicts_least_recently_used_by_entries(void **state)
{
	struct cache_l1 *c = test_new(3, 1 << 20);

	test_put(c, "a", "1");
	test_put(c, "b", "2");
	test_put(c, "c", "3");
	assert_non_null(test_get(c, "a")); /* a is now the most recent; b the least */
	test_put(c, "d", "4");
	assert_null(test_get(c, "b"));
	assert_non_null(test_get(c, "c"));
	assert_non_null(test_get(c, "a"));
	assert_non_null(test_get(c, "d"));
	test_put(c, "e", "5"); /* c is the least recent now */
	assert_null(test_get(c, "c"));
	assert_int_equal(test_stats(c).entries, 3);
	assert_int_equal(test_stats(c).evictions, 2);
	cache_l1_free(c);
}

static void
test_cache_evicts_least_recently_used_by_bytes(void **state)
{
	/* each entry: 1 key + 19 body + 5 etag = 25 bytes, the per-entry limit; 100 hold four */
	struct cache_l1 *c = test_new(100, 100);
	const char *body = "0123456789012345678";

	test_put(c, "a", body);
	test_put(c, "b", body);
	test_put(c, "c", body);
	test_put(c, "d", body);
	assert_int_equal(test_stats(c).bytes, 100);
	assert_int_equal(test_stats(c).evictions, 0);
	assert_non_null(test_get(c, "a")); /* b is now the least recent */
	test_put(c, "e", body);
	assert_null(test_get(c, "b"));
	assert_non_null(test_get(c, "a"));
	assert_non_null(test_get(c, "c"));
	assert_non_null(test_get(c, "d"));
	assert_non_null(test_get(c, "e"));
	assert_int_equal(test_stats(c).entries, 4);
	assert_int_equal(test_stats(c).bytes, 100);
	assert_int_equal(test_stats(c).evictions, 1);
	cache_l1_free(c);
}

static void
test_cache_evicts_as_many_as_a_large_entry_needs(void **state)
{
	/* limit per entry 100; eight small entries of 7 bytes, then one of 100 */
	struct cache_l1 *c = test_new(100, 400);
	char key[2] = "a", big[100];
	struct cache_entry e;
	int i;

	for (i = 0; i < 8; i++) {
		key[0] = (char)('a' + i);
		test_put(c, key, "x"); /* 1 + 1 + 5 */
	}
	memset(big, 'b', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	e = test_entry("B", big, ""); /* 1 + 99 + 0 = 100 */
	assert_int_equal(cache_l1_put(c, &e), 0);
	assert_int_equal(test_stats(c).bytes, 8 * 7 + 100);
	assert_int_equal(test_stats(c).evictions, 0);
	for (i = 0; i < 3; i++) {
		e.key = (const char[]){(char)('C' + i)};
		e.key_len = 1;
		assert_int_equal(cache_l1_put(c, &e), 0);
	}
	/* 56 + 400 > 400: every small entry had to go, oldest first */
	assert_int_equal(test_stats(c).entries, 4);
	assert_int_equal(test_stats(c).bytes, 400);
	assert_int_equal(test_stats(c).evictions, 8);
	assert_null(test_get(c, "h"));
	assert_non_null(test_get(c, "B"));
	cache_l1_free(c);
}

static void
test_cache_refuses_an_entry_larger_than_a_quarter_of_max_bytes(void **state)
{
	struct cache_l1 *c = test_new(16, 400);
	char body[200];
	struct cache_entry e;

	/* 1 key + 94 body + 5 etag = 100: exactly a quarter fits */
	memset(body, 'x', 94);
	body[94] = '\0';
	e = test_entry("k", body, "W/\"e\"");
	assert_int_equal(cache_l1_put(c, &e), 0);
	assert_int_equal(test_stats(c).bytes, 100);

	/* one byte more, in any of the three parts, does not */
	e.body_len = 95;
	assert_int_equal(cache_l1_put(c, &e), -1);
	e = test_entry("kk", body, "W/\"e\"");
	assert_int_equal(cache_l1_put(c, &e), -1);
	e = test_entry("k", body, "W/\"ee\"");
	assert_int_equal(cache_l1_put(c, &e), -1);
	e = test_entry("k", body, "");
	e.body_len = SIZE_MAX; /* no overflow in the sum */
	assert_int_equal(cache_l1_put(c, &e), -1);

	assert_int_equal(test_stats(c).entries, 0);
	assert_int_equal(test_stats(c).bytes, 0);
	assert_null(test_get(c, "kk"));
	cache_l1_free(c);
}

static void
test_cache_refused_put_drops_the_entry_it_meant_to_replace(void **state)
{
	struct cache_l1 *c = test_new(16, 40);
	struct cache_entry e = test_entry("k", "a body far too long for ten bytes", "");

	test_put(c, "k", "old");
	assert_int_equal(cache_l1_put(c, &e), -1);
	assert_null(test_get(c, "k"));
	assert_int_equal(test_stats(c).entries, 0);
	assert_int_equal(test_stats(c).bytes, 0);
	cache_l1_free(c);
}

static void
test_cache_refuses_a_key_longer_than_the_maximum(void **state)
{
	struct cache_l1 *c = test_new(16, 1 << 20);
	char key[CACHE_KEY_MAX + 2];
	struct cache_entry e;

	memset(key, 'k', sizeof(key) - 1);
	key[sizeof(key) - 1] = '\0';
	e = test_entry(key, "b", "");
	assert_int_equal(cache_l1_put(c, &e), -1);
	assert_int_equal(test_stats(c).entries, 0);
	assert_null(cache_l1_get(c, key, CACHE_KEY_MAX + 1, NOW, NULL));

	e.key_len = CACHE_KEY_MAX; /* the maximum itself is fine */
	assert_int_equal(cache_l1_put(c, &e), 0);
	assert_non_null(cache_l1_get(c, key, CACHE_KEY_MAX, NOW, NULL));
	cache_l1_free(c);
}

static void
test_cache_refuses_more_deps_than_the_maximum(void **state)
{
	struct cache_l1 *c = test_new(16, 4096);
	struct cache_entry e = test_entry("k", "b", "");

	e.ndeps = CACHE_MAX_DEPS + 1;
	assert_int_equal(cache_l1_put(c, &e), -1);
	e.ndeps = -1;
	assert_int_equal(cache_l1_put(c, &e), -1);
	assert_int_equal(test_stats(c).entries, 0);
	cache_l1_free(c);
}

static void
test_cache_expires_at_exactly_expires_ms(void **state)
{
	struct cache_l1 *c = test_new(16, 4096);
	struct cache_entry e = test_entry("k", "b", "");

	e.expires_ms = 5000;
	assert_int_equal(cache_l1_put(c, &e), 0);
	assert_non_null(cache_l1_get(c, "k", 1, 4999, NULL));
	assert_int_equal(test_stats(c).expired, 0);
	assert_null(cache_l1_get(c, "k", 1, 5000, NULL));
	assert_int_equal(test_stats(c).expired, 1);
	assert_int_equal(test_stats(c).entries, 0);
	/* dropped, not merely hidden: an earlier clock does not bring it back */
	assert_null(cache_l1_get(c, "k", 1, 4999, NULL));
	assert_int_equal(test_stats(c).expired, 1);
	cache_l1_free(c);
}

/* Issue 8: past its expiry an entry with a grace is kept for a stale answer, not a hit. */
static void
test_cache_keeps_an_expired_entry_for_its_grace(void **state)
{
	struct cache_l1 *c = test_new(16, 4096);
	struct cache_entry e = test_entry("k", "old", "W/\"o\"");
	const struct cache_entry *got;

	e.expires_ms = 5000;
	e.stale_until_ms = 9000;
	e.filled_ms = 3000;
	assert_int_equal(cache_l1_put(c, &e), 0);
	/* fresh: both lookups answer it */
	assert_non_null(cache_l1_get(c, "k", 1, 4999, NULL));
	assert_non_null(cache_l1_get_stale(c, "k", 1, 4999, NULL));
	/* expired, in its grace: no hit, but the copy is still there */
	assert_null(cache_l1_get(c, "k", 1, 5000, NULL));
	assert_int_equal(test_stats(c).entries, 1);
	assert_int_equal(test_stats(c).expired, 0);
	got = cache_l1_get_stale(c, "k", 1, 8999, NULL);
	assert_non_null(got);
	assert_memory_equal(got->body, "old", 3);
	assert_int_equal(got->filled_ms, 3000);
	assert_int_equal(got->expires_ms, 5000);
	/* past the grace: dropped for both */
	assert_null(cache_l1_get_stale(c, "k", 1, 9000, NULL));
	assert_int_equal(test_stats(c).expired, 1);
	assert_int_equal(test_stats(c).entries, 0);
	assert_null(cache_l1_get_stale(c, "k", 1, 8999, NULL));
	cache_l1_free(c);
}

/* Issue 8, "a write wins": a copy filled under a moved epoch is never returned, stale or not. */
static void
test_cache_never_returns_a_stale_copy_under_a_moved_epoch(void **state)
{
	struct cache_l1 *c = test_new(16, 4096);
	struct cache_entry e = test_entry("k", "old", "");
	_Atomic uint64_t epochs[4] = {0};

	atomic_store(&epochs[2], 7);
	e.deps[0].slot = 2;
	e.deps[0].value = 7;
	e.ndeps = 1;
	e.expires_ms = 5000;
	e.stale_until_ms = 60000;
	assert_int_equal(cache_l1_put(c, &e), 0);
	assert_non_null(cache_l1_get_stale(c, "k", 1, 6000, epochs));
	atomic_fetch_add(&epochs[2], 1);
	assert_null(cache_l1_get_stale(c, "k", 1, 6000, epochs));
	assert_int_equal(test_stats(c).stale, 1);
	assert_int_equal(test_stats(c).entries, 0);
	/* also while it would still be fresh */
	atomic_store(&epochs[2], 7);
	assert_int_equal(cache_l1_put(c, &e), 0);
	atomic_fetch_add(&epochs[2], 1);
	assert_null(cache_l1_get_stale(c, "k", 1, 4000, epochs));
	assert_int_equal(test_stats(c).stale, 2);
	cache_l1_free(c);
}

/* A grace that ends before the expiry keeps nothing past the expiry. */
static void
test_cache_grace_before_expiry_keeps_nothing_after_it(void **state)
{
	struct cache_l1 *c = test_new(16, 4096);
	struct cache_entry e = test_entry("k", "b", "");

	e.expires_ms = 5000;
	e.stale_until_ms = 100;
	assert_int_equal(cache_l1_put(c, &e), 0);
	assert_non_null(cache_l1_get_stale(c, "k", 1, 4999, NULL));
	assert_null(cache_l1_get_stale(c, "k", 1, 5000, NULL));
	assert_int_equal(test_stats(c).entries, 0);
	cache_l1_free(c);
}

static void
test_cache_is_stale_when_its_epoch_moves(void **state)
{
	struct cache_l1 *c = test_new(16, 4096);
	struct cache_entry e = test_entry("k", "b", "");
	_Atomic uint64_t epochs[8] = {0};

	atomic_store(&epochs[5], 11);
	e.deps[0].slot = 5;
	e.deps[0].value = 11;
	e.ndeps = 1;
	assert_int_equal(cache_l1_put(c, &e), 0);
	atomic_store(&epochs[4], 99); /* another slot moving does not matter */
	assert_non_null(cache_l1_get(c, "k", 1, NOW, epochs));
	atomic_fetch_add(&epochs[5], 1);
	assert_null(cache_l1_get(c, "k", 1, NOW, epochs));
	assert_int_equal(test_stats(c).stale, 1);
	assert_int_equal(test_stats(c).entries, 0);
	/* dropped: the epoch going back does not revive it */
	atomic_store(&epochs[5], 11);
	assert_null(cache_l1_get(c, "k", 1, NOW, epochs));
	assert_int_equal(test_stats(c).stale, 1);
	cache_l1_free(c);
}

static void
test_cache_is_stale_when_the_second_of_several_epochs_moves(void **state)
{
	struct cache_l1 *c = test_new(16, 4096);
	struct cache_entry e = test_entry("k", "b", "");
	_Atomic uint64_t epochs[8] = {0};
	int i;

	for (i = 0; i < CACHE_MAX_DEPS; i++) {
		atomic_store(&epochs[i + 1], (uint64_t)(100 + i));
		e.deps[i].slot = (uint32_t)(i + 1);
		e.deps[i].value = (uint64_t)(100 + i);
	}
	e.ndeps = CACHE_MAX_DEPS;
	assert_int_equal(cache_l1_put(c, &e), 0);
	assert_non_null(cache_l1_get(c, "k", 1, NOW, epochs));
	atomic_fetch_add(&epochs[2], 1);
	assert_null(cache_l1_get(c, "k", 1, NOW, epochs));
	assert_int_equal(test_stats(c).stale, 1);
	assert_int_equal(test_stats(c).expired, 0);
	cache_l1_free(c);
}

static void
test_cache_checks_expiry_before_epochs(void **state)
{
	struct cache_l1 *c = test_new(16, 4096);
	struct cache_entry e = test_entry("k", "b", "");
	_Atomic uint64_t epochs[1] = {0};

	e.deps[0].slot = 0;
	e.deps[0].value = 0;
	e.ndeps = 1;
	assert_int_equal(cache_l1_put(c, &e), 0);
	atomic_store(&epochs[0], 1);
	assert_null(cache_l1_get(c, "k", 1, LATER, epochs));
	assert_int_equal(test_stats(c).expired, 1);
	assert_int_equal(test_stats(c).stale, 0);
	cache_l1_free(c);
}

static void
test_cache_entry_without_deps_ignores_epochs(void **state)
{
	struct cache_l1 *c = test_new(16, 4096);
	struct cache_entry e = test_entry("k", "b", "");
	_Atomic uint64_t epochs[4] = {0};

	assert_int_equal(cache_l1_put(c, &e), 0);
	assert_non_null(cache_l1_get(c, "k", 1, NOW, NULL));
	atomic_store(&epochs[0], 1);
	atomic_store(&epochs[3], 1);
	assert_non_null(cache_l1_get(c, "k", 1, NOW, epochs));
	assert_int_equal(test_stats(c).stale, 0);
	cache_l1_free(c);
}

static void
test_cache_entry_with_deps_is_stale_without_an_epoch_table(void **state)
{
	struct cache_l1 *c = test_new(16, 4096);
	struct cache_entry e = test_entry("k", "b", "");

	e.ndeps = 1;
	assert_int_equal(cache_l1_put(c, &e), 0);
	assert_null(cache_l1_get(c, "k", 1, NOW, NULL));
	assert_int_equal(test_stats(c).stale, 1);
	cache_l1_free(c);
}

static void
test_cache_del_removes_only_that_key(void **state)
{
	struct cache_l1 *c = test_new(16, 4096);

	test_put(c, "a", "1");
	test_put(c, "b", "22");
	cache_l1_del(c, "a", 1);
	cache_l1_del(c, "zz", 2); /* absent: nothing happens */
	assert_null(test_get(c, "a"));
	assert_non_null(test_get(c, "b"));
	assert_int_equal(test_stats(c).entries, 1);
	assert_int_equal(test_stats(c).bytes, 1 + 2 + 5);
	assert_int_equal(test_stats(c).evictions, 0);
	cache_l1_del(c, "b", 1);
	assert_int_equal(test_stats(c).entries, 0);
	assert_int_equal(test_stats(c).bytes, 0);
	test_put(c, "a", "1"); /* the list is usable after being emptied */
	assert_non_null(test_get(c, "a"));
	cache_l1_free(c);
}

static void
test_cache_stats_count_exactly(void **state)
{
	struct cache_l1 *c = test_new(2, 4096);
	struct cache_entry e = test_entry("x", "123", "W/\"1\""); /* 1 + 3 + 5 */
	_Atomic uint64_t epochs[1] = {0};
	struct cache_l1_stats s;

	s = test_stats(c);
	assert_int_equal(s.entries, 0);
	assert_int_equal(s.bytes, 0);
	assert_int_equal(s.evictions + s.expired + s.stale, 0);

	test_put(c, "a", "1");	/* 7 */
	test_put(c, "b", "22"); /* 8 */
	test_put(c, "c", "");	/* 6, evicts a */

	/* 9 bytes, one dep (slot 0, value 0), evicts b */
	e.ndeps = 1;
	assert_int_equal(cache_l1_put(c, &e), 0);
	s = test_stats(c);
	assert_int_equal(s.entries, 2);
	assert_int_equal(s.bytes, 6 + 9);
	assert_int_equal(s.evictions, 2);

	atomic_store(&epochs[0], 1);
	assert_null(cache_l1_get(c, "x", 1, NOW, epochs));
	assert_null(cache_l1_get(c, "c", 1, LATER, epochs));
	assert_null(test_get(c, "a")); /* a plain miss counts nothing */
	s = test_stats(c);
	assert_int_equal(s.entries, 0);
	assert_int_equal(s.bytes, 0);
	assert_int_equal(s.evictions, 2);
	assert_int_equal(s.expired, 1);
	assert_int_equal(s.stale, 1);
	cache_l1_free(c);
}

static void
test_cache_with_no_entries_allowed_stores_nothing(void **state)
{
	struct cache_l1 *c = test_new(0, 4096);
	struct cache_entry e = test_entry("k", "b", "");

	assert_int_equal(cache_l1_put(c, &e), -1);
	assert_null(test_get(c, "k"));
	assert_int_equal(test_stats(c).entries, 0);
	cache_l1_free(c);
}

static void
test_cache_accepts_an_empty_key_and_body(void **state)
{
	struct cache_l1 *c = test_new(4, 4096);
	struct cache_entry e;
	const struct cache_entry *got;

	memset(&e, 0, sizeof(e));
	e.expires_ms = LATER;
	assert_int_equal(cache_l1_put(c, &e), 0);
	got = cache_l1_get(c, NULL, 0, NOW, NULL);
	assert_non_null(got);
	assert_int_equal(got->key_len, 0);
	assert_int_equal(got->body_len, 0);
	assert_null(got->etag);
	assert_int_equal(test_stats(c).bytes, 0);
	cache_l1_free(c);
}

/*
 * Keys whose XXH3 agree in the low 16 bits share a bucket in any table of at most 65536
 * buckets (the table indexes by the low bits of XXH3), so these chains really hold several
 * nodes whatever the table's size.
 */
#define TEST_COLLIDING 8

static void
test_colliding_keys(char keys[TEST_COLLIDING][32])
{
	uint64_t target = 0, i;
	int found = 0;

	for (i = 0; found < TEST_COLLIDING; i++) {
		char k[32];
		int len = snprintf(k, sizeof(k), "collide:%llu", (unsigned long long)i);

		if (found == 0)
			target = XXH3_64bits(k, (size_t)len) & 0xffff;
		if ((XXH3_64bits(k, (size_t)len) & 0xffff) == target)
			strcpy(keys[found++], k);
	}
}

static void
test_cache_keeps_keys_apart_in_a_shared_bucket(void **state)
{
	struct cache_l1 *c = test_new(TEST_COLLIDING, 1 << 20);
	char keys[TEST_COLLIDING][32];
	const struct cache_entry *got;
	int i;

	test_colliding_keys(keys);
	for (i = 0; i < TEST_COLLIDING; i++)
		test_put(c, keys[i], keys[i]); /* body = key */
	for (i = 0; i < TEST_COLLIDING; i++) {
		got = test_get(c, keys[i]);
		assert_non_null(got);
		assert_string_equal(got->body, keys[i]);
	}
	/* unlink from the middle, the head and the tail of the chain */
	cache_l1_del(c, keys[3], strlen(keys[3]));
	cache_l1_del(c, keys[0], strlen(keys[0]));
	cache_l1_del(c, keys[TEST_COLLIDING - 1], strlen(keys[TEST_COLLIDING - 1]));
	for (i = 0; i < TEST_COLLIDING; i++) {
		got = test_get(c, keys[i]);
		if (i == 3 || i == 0 || i == TEST_COLLIDING - 1) {
			assert_null(got);
		} else {
			assert_non_null(got);
			assert_string_equal(got->body, keys[i]);
		}
	}
	/* eviction out of a shared chain: the least recent is keys[1] */
	test_put(c, "other:1", "x");
	test_put(c, "other:2", "x");
	test_put(c, "other:3", "x");
	test_put(c, "other:4", "x");
	assert_null(test_get(c, keys[1]));
	assert_non_null(test_get(c, keys[2]));
	assert_int_equal(test_stats(c).entries, TEST_COLLIDING);
	cache_l1_free(c);
}

static void
test_cache_many_keys_through_a_tiny_table(void **state)
{
	struct cache_l1 *c = test_new(4, 1 << 20); /* four buckets */
	char key[32];
	const struct cache_entry *got;
	int i, j;

	for (i = 0; i < 2000; i++) {
		snprintf(key, sizeof(key), "tiny:%d", i);
		test_put(c, key, key);
		/* the last four are there, in full, and nothing older */
		for (j = i; j >= 0 && j > i - 6; j--) {
			snprintf(key, sizeof(key), "tiny:%d", j);
			got = cache_l1_get(c, key, strlen(key), NOW, NULL);
			if (i - j < 4) {
				assert_non_null(got);
				assert_string_equal(got->body, key);
			} else {
				assert_null(got);
			}
		}
		/* those gets ran newest to oldest: re-put in order to keep LRU == insertion */
		for (j = i - 3 < 0 ? 0 : i - 3; j <= i; j++) {
			snprintf(key, sizeof(key), "tiny:%d", j);
			assert_non_null(cache_l1_get(c, key, strlen(key), NOW, NULL));
		}
	}
	assert_int_equal(test_stats(c).entries, 4);
	assert_int_equal(test_stats(c).evictions, 2000 - 4);
	cache_l1_free(c);
}

/*
 * The reference model: an array kept in recency order (index 0 the most recent) with the
 * same two bounds, applied after each insert. Slow and obviously right.
 */
#define MODEL_KEYS 500
#define MODEL_MAX_ENTRIES 64
#define MODEL_MAX_BYTES 6000 /* binds as often as the entry count: entries average ~100 */
#define MODEL_OPS 100000

struct model_item {
	int key;
	uint32_t version;
	size_t size;
};

struct model {
	struct model_item items[MODEL_MAX_ENTRIES + 1];
	int n;
	size_t bytes;
	uint64_t evictions;
};

static int
model_find(const struct model *m, int key)
{
	int i;

	for (i = 0; i < m->n; i++)
		if (m->items[i].key == key)
			return i;
	return -1;
}

static void
model_remove(struct model *m, int i)
{
	m->bytes -= m->items[i].size;
	memmove(&m->items[i], &m->items[i + 1], (size_t)(m->n - i - 1) * sizeof(m->items[0]));
	m->n--;
}

static const struct model_item *
model_get(struct model *m, int key)
{
	struct model_item it;
	int i = model_find(m, key);

	if (i < 0)
		return NULL;
	it = m->items[i];
	memmove(&m->items[1], &m->items[0], (size_t)i * sizeof(m->items[0]));
	m->items[0] = it;
	return &m->items[0];
}

/* Returns 0 or -1 like cache_l1_put; a refused put drops the key too. */
static int
model_put(struct model *m, int key, uint32_t version, size_t size)
{
	int i = model_find(m, key);

	if (i >= 0)
		model_remove(m, i);
	if (size > MODEL_MAX_BYTES / 4)
		return -1;
	memmove(&m->items[1], &m->items[0], (size_t)m->n * sizeof(m->items[0]));
	m->items[0] = (struct model_item){key, version, size};
	m->n++;
	m->bytes += size;
	while (m->n > MODEL_MAX_ENTRIES || m->bytes > MODEL_MAX_BYTES) {
		model_remove(m, m->n - 1);
		m->evictions++;
	}
	return 0;
}

static void
test_cache_matches_a_reference_lru_over_random_operations(void **state)
{
	struct cache_l1 *c = test_new(MODEL_MAX_ENTRIES, MODEL_MAX_BYTES);
	struct model *m = calloc(1, sizeof(*m));
	static char body[2048];
	uint64_t seed = 20240611, hits = 0, misses = 0, refused = 0;
	uint32_t version = 0;
	int op;

	assert_non_null(m);
	memset(body, 'b', sizeof(body));
	for (op = 0; op < MODEL_OPS; op++) {
		uint64_t r = test_rand(&seed);
		int key = (int)(r % MODEL_KEYS), kind = (int)((r >> 16) % 10);
		char k[16], etag[24];
		size_t klen = (size_t)snprintf(k, sizeof(k), "m:%d", key);

		if (kind < 5) { /* get */
			const struct cache_entry *got = cache_l1_get(c, k, klen, NOW, NULL);
			const struct model_item *want = model_get(m, key);

			if (want == NULL) {
				assert_null(got);
				misses++;
				continue;
			}
			assert_non_null(got);
			hits++;
			snprintf(etag, sizeof(etag), "W/\"%u\"", want->version);
			assert_string_equal(got->etag, etag);
			assert_int_equal(klen + got->body_len + strlen(got->etag), want->size);
		} else if (kind < 9) { /* put: mostly small, sometimes over the per-entry limit */
			struct cache_entry e;
			size_t blen = (size_t)((r >> 24) % 200);
			int rc;

			if ((r >> 40) % 50 == 0)
				blen = MODEL_MAX_BYTES / 4 + (size_t)((r >> 48) % 8) - 4;
			snprintf(etag, sizeof(etag), "W/\"%u\"", ++version);
			e = test_entry(k, "", etag);
			e.body = body;
			e.body_len = blen;
			rc = cache_l1_put(c, &e);
			assert_int_equal(rc,
					 model_put(m, key, version, klen + blen + strlen(etag)));
			refused += rc != 0;
		} else { /* del */
			int i = model_find(m, key);

			cache_l1_del(c, k, klen);
			if (i >= 0)
				model_remove(m, i);
		}
	}
	{
		struct cache_l1_stats s = test_stats(c);

		assert_int_equal(s.entries, (size_t)m->n);
		assert_int_equal(s.bytes, m->bytes);
		assert_int_equal(s.evictions, m->evictions);
	}
	/* the run exercised what it claims to: both outcomes, both bounds, refusals */
	assert_true(hits > 1000 && misses > 1000);
	assert_true(m->evictions > 1000 && refused > 100);
	cache_l1_free(c);
	free(m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cache_round_trips_body_etag_and_content_type),
	    cmocka_unit_test(test_cache_misses_an_unknown_key),
	    cmocka_unit_test(test_cache_replace_keeps_one_entry_with_the_new_value),
	    cmocka_unit_test(test_cache_put_accepts_an_entry_read_from_the_cache),
	    cmocka_unit_test(test_cache_evicts_least_recently_used_by_entries),
	    cmocka_unit_test(test_cache_evicts_least_recently_used_by_bytes),
	    cmocka_unit_test(test_cache_evicts_as_many_as_a_large_entry_needs),
	    cmocka_unit_test(test_cache_refuses_an_entry_larger_than_a_quarter_of_max_bytes),
	    cmocka_unit_test(test_cache_refused_put_drops_the_entry_it_meant_to_replace),
	    cmocka_unit_test(test_cache_refuses_a_key_longer_than_the_maximum),
	    cmocka_unit_test(test_cache_refuses_more_deps_than_the_maximum),
	    cmocka_unit_test(test_cache_expires_at_exactly_expires_ms),
	    cmocka_unit_test(test_cache_keeps_an_expired_entry_for_its_grace),
	    cmocka_unit_test(test_cache_never_returns_a_stale_copy_under_a_moved_epoch),
	    cmocka_unit_test(test_cache_grace_before_expiry_keeps_nothing_after_it),
	    cmocka_unit_test(test_cache_is_stale_when_its_epoch_moves),
	    cmocka_unit_test(test_cache_is_stale_when_the_second_of_several_epochs_moves),
	    cmocka_unit_test(test_cache_checks_expiry_before_epochs),
	    cmocka_unit_test(test_cache_entry_without_deps_ignores_epochs),
	    cmocka_unit_test(test_cache_entry_with_deps_is_stale_without_an_epoch_table),
	    cmocka_unit_test(test_cache_del_removes_only_that_key),
	    cmocka_unit_test(test_cache_stats_count_exactly),
	    cmocka_unit_test(test_cache_with_no_entries_allowed_stores_nothing),
	    cmocka_unit_test(test_cache_accepts_an_empty_key_and_body),
	    cmocka_unit_test(test_cache_keeps_keys_apart_in_a_shared_bucket),
	    cmocka_unit_test(test_cache_many_keys_through_a_tiny_table),
	    cmocka_unit_test(test_cache_matches_a_reference_lru_over_random_operations),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
