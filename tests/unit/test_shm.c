/* test_shm.c: the shared region's histograms, counters and window publication. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "shm.h"

#define NSAMPLES 100000

/* splitmix64: a fixed-seed PRNG, so every run sees the same samples. */
static uint64_t
test_rand(uint64_t *state)
{
	uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

/* Uniform in (0, 1]. */
static double
test_unit(uint64_t *state)
{
	return ((double)(test_rand(state) >> 11) + 1.0) / 9007199254740992.0;
}

static struct shm_hist *
test_hist_new(void)
{
	struct shm_hist *h = calloc(1, sizeof(*h));

	assert_non_null(h);
	return h;
}

static int
test_cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void
test_bucket_bounds_are_contiguous_and_monotone(void **state)
{
	size_t i;

	assert_int_equal(shm_hist_bucket_lower(0), 0);
	for (i = 0; i < SHM_HIST_BUCKETS; i++) {
		uint64_t lo = shm_hist_bucket_lower(i), hi = shm_hist_bucket_upper(i);

		assert_true(lo <= hi);
		if (i > 0)
			assert_int_equal(lo, shm_hist_bucket_upper(i - 1) + 1);
	}
	assert_int_equal(shm_hist_bucket_upper(SHM_HIST_BUCKETS - 1), SHM_HIST_MAX_US);
}

static void
test_bucket_index_maps_every_edge_into_its_bucket(void **state)
{
	size_t i;

	for (i = 0; i < SHM_HIST_BUCKETS; i++) {
		uint64_t lo = shm_hist_bucket_lower(i), hi = shm_hist_bucket_upper(i);

		assert_int_equal(shm_hist_bucket_index(lo), i);
		assert_int_equal(shm_hist_bucket_index(hi), i);
		assert_int_equal(shm_hist_bucket_index(lo + (hi - lo) / 2), i);
	}
}

static void
test_bucket_index_holds_random_values(void **state)
{
	uint64_t seed = 1, v;
	size_t i, k;

	for (k = 0; k < 200000; k++) {
		v = test_rand(&seed) % (SHM_HIST_MAX_US + 1);
		if (k & 1)
			v >>= test_rand(&seed) % 26; /* small values too */
		i = shm_hist_bucket_index(v);
		assert_true(i < SHM_HIST_BUCKETS);
		assert_true(shm_hist_bucket_lower(i) <= v);
		assert_true(v <= shm_hist_bucket_upper(i));
	}
}

static void
test_buckets_below_32_are_exact(void **state)
{
	uint64_t v;

	for (v = 0; v < 64; v++) {
		assert_int_equal(shm_hist_bucket_lower(shm_hist_bucket_index(v)), v);
		assert_int_equal(shm_hist_bucket_upper(shm_hist_bucket_index(v)), v);
	}
}

static void
test_bucket_width_is_at_most_a_32nd_above_32(void **state)
{
	size_t i;

	for (i = SHM_HIST_SUB; i < SHM_HIST_BUCKETS; i++) {
		uint64_t lo = shm_hist_bucket_lower(i), hi = shm_hist_bucket_upper(i);

		assert_true((hi - lo + 1) * 32 <= lo);
	}
}

static void
test_values_past_the_top_are_clamped(void **state)
{
	struct shm_hist *h = test_hist_new();
	struct shm_hist_snapshot s;

	assert_int_equal(shm_hist_bucket_index(SHM_HIST_MAX_US + 1), SHM_HIST_BUCKETS - 1);
	assert_int_equal(shm_hist_bucket_index(UINT64_MAX), SHM_HIST_BUCKETS - 1);
	shm_hist_record(h, UINT64_C(500000000)); /* 500 s */
	shm_hist_snapshot(h, &s);
	assert_int_equal(s.count, 1);
	assert_int_equal(s.buckets[SHM_HIST_BUCKETS - 1], 1);
	assert_int_equal(s.max_us, SHM_HIST_MAX_US);
	assert_int_equal(s.sum_us, SHM_HIST_MAX_US);
	assert_true(shm_hist_percentile(&s, 99.0) <= SHM_HIST_MAX_US);
	free(h);
}

static void
test_empty_histogram_reports_zero(void **state)
{
	struct shm_hist *h = test_hist_new();
	struct shm_hist_snapshot s;

	shm_hist_snapshot(h, &s);
	assert_int_equal(s.count, 0);
	assert_int_equal(shm_hist_percentile(&s, 50.0), 0);
	assert_int_equal(shm_hist_percentile(&s, 100.0), 0);
	assert_int_equal(shm_hist_count_le(&s, SHM_HIST_MAX_US), 0);
	free(h);
}

/*
 * Records the samples and checks p50 ... p100 against the exact percentile of the sorted
 * samples (rank ceil(p/100 * n)): the estimate lies in the same bucket, so it is off by less
 * than the bucket's width, at most a 32nd of the value.
 */
static void
test_check_percentiles(uint64_t *samples, size_t n)
{
	static const double ps[] = {1, 10, 25, 50, 75, 90, 95, 99, 99.9, 99.99, 100};
	struct shm_hist *h = test_hist_new();
	struct shm_hist_snapshot s;
	uint64_t max = 0, sum = 0;
	size_t i, rank;

	for (i = 0; i < n; i++) {
		shm_hist_record(h, samples[i]);
		sum += samples[i];
		if (samples[i] > max)
			max = samples[i];
	}
	shm_hist_snapshot(h, &s);
	assert_int_equal(s.count, n);
	assert_int_equal(s.sum_us, sum);
	assert_int_equal(s.max_us, max);
	qsort(samples, n, sizeof(samples[0]), test_cmp_u64);
	for (i = 0; i < sizeof(ps) / sizeof(ps[0]); i++) {
		uint64_t exact, est, diff;

		rank = (size_t)ceil(ps[i] * (double)n / 100.0);
		exact = samples[rank - 1];
		est = shm_hist_percentile(&s, ps[i]);
		diff = est > exact ? est - exact : exact - est;
		if (diff * 32 > exact)
			fail_msg("p%g: estimate %llu, exact %llu", ps[i], (unsigned long long)est,
				 (unsigned long long)exact);
	}
	free(h);
}

static void
test_percentiles_of_exponential_samples_are_within_bucket_error(void **state)
{
	uint64_t *v = malloc(NSAMPLES * sizeof(*v)), seed = 42;
	size_t i;

	assert_non_null(v);
	for (i = 0; i < NSAMPLES; i++) /* mean 20 ms */
		v[i] = (uint64_t)(-log(test_unit(&seed)) * 20000.0);
	test_check_percentiles(v, NSAMPLES);
	free(v);
}

static void
test_percentiles_of_bimodal_samples_are_within_bucket_error(void **state)
{
	uint64_t *v = malloc(NSAMPLES * sizeof(*v)), seed = 7;
	size_t i;

	assert_non_null(v);
	for (i = 0; i < NSAMPLES; i++) {
		/* 97% cache hits around 300 us, 3% database trips around 120 ms */
		if (test_rand(&seed) % 100 < 97)
			v[i] = 200 + test_rand(&seed) % 200;
		else
			v[i] = 80000 + test_rand(&seed) % 80000;
	}
	test_check_percentiles(v, NSAMPLES);
	free(v);
}

static void
test_percentiles_of_uniform_samples_over_the_whole_range_are_within_bucket_error(void **state)
{
	uint64_t *v = malloc(NSAMPLES * sizeof(*v)), seed = 99;
	size_t i;

	assert_non_null(v);
	for (i = 0; i < NSAMPLES; i++)
		v[i] = test_rand(&seed) % (SHM_HIST_MAX_US + 1) >> (test_rand(&seed) % 27);
	test_check_percentiles(v, NSAMPLES);
	free(v);
}

static void
test_percentile_of_exact_rank_takes_the_lower_sample(void **state)
{
	struct shm_hist *h = test_hist_new();
	struct shm_hist_snapshot s;
	uint64_t v;

	/* 1..20 us: p95 of 20 values is rank 19, p50 rank 10 */
	for (v = 1; v <= 20; v++)
		shm_hist_record(h, v);
	shm_hist_snapshot(h, &s);
	assert_int_equal(shm_hist_percentile(&s, 95.0), 19);
	assert_int_equal(shm_hist_percentile(&s, 50.0), 10);
	assert_int_equal(shm_hist_percentile(&s, 100.0), 20);
	assert_int_equal(shm_hist_percentile(&s, 0.001), 1);
	free(h);
}

static void
test_count_le_counts_whole_buckets_at_or_below(void **state)
{
	struct shm_hist *h = test_hist_new();
	struct shm_hist_snapshot s;

	shm_hist_record(h, 10);
	shm_hist_record(h, 499);
	shm_hist_record(h, 1000);
	shm_hist_record(h, 70000);
	shm_hist_snapshot(h, &s);
	assert_int_equal(shm_hist_count_le(&s, 9), 0);
	assert_int_equal(shm_hist_count_le(&s, 10), 1);
	/* 499 lives in [496, 503], which is not wholly <= 500 */
	assert_int_equal(shm_hist_count_le(&s, 500), 1);
	assert_int_equal(shm_hist_count_le(&s, 503), 2);
	assert_int_equal(shm_hist_count_le(&s, 1023), 3);
	assert_int_equal(shm_hist_count_le(&s, SHM_HIST_MAX_US), 4);
	free(h);
}

static void
test_subtract_leaves_only_the_window(void **state)
{
	struct shm_hist *h = test_hist_new();
	struct shm_hist_snapshot *before = malloc(sizeof(*before)), *after = malloc(sizeof(*after));
	uint64_t v;

	assert_non_null(before);
	assert_non_null(after);
	for (v = 0; v < 1000; v++)
		shm_hist_record(h, 5000000 + v); /* slow, before the window */
	shm_hist_snapshot(h, before);
	for (v = 0; v < 100; v++)
		shm_hist_record(h, 100 + v); /* 100..199 us in the window */
	shm_hist_snapshot(h, after);
	shm_hist_subtract(after, before);

	assert_int_equal(after->count, 100);
	assert_int_equal(after->sum_us, 100 * 100 + 99 * 100 / 2);
	/* the old max (5 s) is bounded by the window's highest bucket, [196, 199] */
	assert_int_equal(after->max_us, 199);
	assert_int_equal(shm_hist_count_le(after, 99), 0);
	assert_int_equal(shm_hist_count_le(after, 199), 100);
	assert_true(shm_hist_percentile(after, 100.0) <= 199);
	assert_true(shm_hist_percentile(after, 50.0) >= 147 &&
		    shm_hist_percentile(after, 50.0) <= 151);

	/* a window with nothing in it */
	shm_hist_snapshot(h, before);
	shm_hist_snapshot(h, after);
	shm_hist_subtract(after, before);
	assert_int_equal(after->count, 0);
	assert_int_equal(after->max_us, 0);
	assert_int_equal(shm_hist_percentile(after, 99.0), 0);
	free(before);
	free(after);
	free(h);
}

static void
test_merge_adds_counts_and_keeps_the_larger_max(void **state)
{
	struct shm_hist *a = test_hist_new(), *b = test_hist_new();
	struct shm_hist_snapshot sa, sb;

	shm_hist_record(a, 10);
	shm_hist_record(b, 20);
	shm_hist_record(b, 3000);
	shm_hist_snapshot(a, &sa);
	shm_hist_snapshot(b, &sb);
	shm_hist_merge(&sa, &sb);
	assert_int_equal(sa.count, 3);
	assert_int_equal(sa.sum_us, 3030);
	assert_int_equal(sa.max_us, 3000);
	assert_int_equal(sa.buckets[10], 1);
	assert_int_equal(sa.buckets[20], 1);
	free(a);
	free(b);
}

static void
test_record_request_counts_status_classes(void **state)
{
	char err[256];
	struct shm_region *r = shm_create(err, sizeof(err));

	assert_non_null(r);
	shm_record_request(r, SHM_CLASS_CLINIC, 200, 100);
	shm_record_request(r, SHM_CLASS_CLINIC, 204, 100);
	shm_record_request(r, SHM_CLASS_CLINIC, 404, 100);
	shm_record_request(r, SHM_CLASS_CLINIC, 503, 100);
	shm_record_request(r, SHM_CLASS_CLINIC, 101, 100);
	shm_record_request(r, SHM_CLASS_CLINIC, 0, 100);
	shm_record_request(r, SHM_CLASS_CLINIC, 999, 100);
	shm_record_request(r, (enum shm_route_class)1234, 200, 100); /* counted as other */
	assert_int_equal(r->status[SHM_CLASS_CLINIC][2], 2);
	assert_int_equal(r->status[SHM_CLASS_CLINIC][4], 1);
	assert_int_equal(r->status[SHM_CLASS_CLINIC][5], 1);
	assert_int_equal(r->status[SHM_CLASS_CLINIC][1], 1);
	assert_int_equal(r->status[SHM_CLASS_CLINIC][0], 2);
	assert_int_equal(r->latency[SHM_CLASS_CLINIC].count, 7);
	assert_int_equal(r->status[SHM_CLASS_OTHER][2], 1);
	assert_int_equal(r->latency[SHM_CLASS_OTHER].count, 1);
	shm_destroy(r);
}

static void
test_create_sets_the_header(void **state)
{
	char err[256];
	struct shm_region *r = shm_create(err, sizeof(err));

	assert_non_null(r);
	assert_int_equal(r->magic, SHM_MAGIC);
	assert_int_equal(r->version, SHM_VERSION);
	assert_int_equal(r->size, sizeof(*r));
	assert_true(r->start_time_s > 1600000000);
	{
		/* the same clock as shm_create: time(2) may run on a coarser one and lag a tick */
		struct timespec now;

		clock_gettime(CLOCK_REALTIME, &now);
		assert_true(r->start_time_s <= (uint64_t)now.tv_sec);
	}
	assert_int_equal(r->window_seq, 0);
	shm_destroy(r);
}

#define CHILDREN 4
#define PER_CHILD 200000

/* The latency, class and status of request i of child c: deterministic, so the parent can
 * compute the exact totals. */
static void
test_child_request(int c, uint32_t i, enum shm_route_class *cls, int *status, uint64_t *us)
{
	*cls = (enum shm_route_class)((i + (uint32_t)c) % SHM_CLASS_MAX);
	*status = 100 * (int)(1 + (i * 7 + (uint32_t)c) % 5) + (int)(i % 3);
	*us = ((uint64_t)i * 2654435761u + (uint64_t)c) % 3000000 >> (i % 11);
}

static void
test_region_is_shared_by_concurrent_processes(void **state)
{
	char err[256];
	struct shm_region *r = shm_create(err, sizeof(err));
	struct shm_hist *expect = calloc(SHM_CLASS_MAX, sizeof(*expect));
	uint64_t status[SHM_CLASS_MAX][6] = {{0}};
	pid_t pids[CHILDREN];
	int c, k, wstatus;
	uint32_t i;
	size_t b;

	assert_non_null(r);
	assert_non_null(expect);
	for (c = 0; c < CHILDREN; c++) {
		pids[c] = fork();
		assert_true(pids[c] != -1);
		if (pids[c] == 0) {
			for (i = 0; i < PER_CHILD; i++) {
				enum shm_route_class cls;
				int st;
				uint64_t us;

				test_child_request(c, i, &cls, &st, &us);
				shm_record_request(r, cls, st, us);
			}
			_exit(0);
		}
	}
	for (c = 0; c < CHILDREN; c++) {
		for (i = 0; i < PER_CHILD; i++) {
			enum shm_route_class cls;
			int st;
			uint64_t us;

			test_child_request(c, i, &cls, &st, &us);
			shm_hist_record(&expect[cls], us);
			status[cls][st / 100]++;
		}
	}
	for (c = 0; c < CHILDREN; c++) {
		assert_int_equal(waitpid(pids[c], &wstatus, 0), pids[c]);
		assert_true(WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0);
	}
	for (k = 0; k < SHM_CLASS_MAX; k++) {
		assert_int_equal(r->latency[k].count, expect[k].count);
		assert_int_equal(r->latency[k].sum_us, expect[k].sum_us);
		assert_int_equal(r->latency[k].max_us, expect[k].max_us);
		for (b = 0; b < SHM_HIST_BUCKETS; b++)
			assert_int_equal(r->latency[k].buckets[b], expect[k].buckets[b]);
		for (b = 0; b < 6; b++)
			assert_int_equal(r->status[k][b], status[k][b]);
	}
	free(expect);
	shm_destroy(r);
}

/* A window whose every number is derived from g, so a torn copy is visible. */
static void
test_fill_window(struct shm_hist_snapshot *classes, uint64_t g)
{
	size_t c, b;

	for (c = 0; c < SHM_CLASS_MAX; c++) {
		classes[c].count = g;
		classes[c].sum_us = g * 3 + c;
		classes[c].max_us = g + c;
		for (b = 0; b < SHM_HIST_BUCKETS; b++)
			classes[c].buckets[b] = g ^ b;
	}
}

static void
test_window_publish_then_read_round_trips(void **state)
{
	char err[256];
	struct shm_region *r = shm_create(err, sizeof(err));
	struct shm_hist_snapshot *in = calloc(SHM_CLASS_MAX, sizeof(*in));
	struct shm_hist_snapshot *out = calloc(SHM_CLASS_MAX, sizeof(*out));
	uint64_t period = 1, end = 1;

	assert_non_null(r);
	assert_non_null(in);
	assert_non_null(out);
	assert_int_equal(shm_window_read(r, out, &period, &end), -1);
	test_fill_window(in, 12345);
	shm_window_publish(r, in, 60, 1700000000123);
	assert_int_equal(shm_window_read(r, out, &period, &end), 0);
	assert_int_equal(period, 60);
	assert_int_equal(end, 1700000000123);
	assert_memory_equal(in, out, SHM_CLASS_MAX * sizeof(*in));
	assert_int_equal(r->window_seq % 2, 0);

	test_fill_window(in, 777);
	shm_window_publish(r, in, 30, 5);
	assert_int_equal(shm_window_read(r, out, NULL, NULL), 0);
	assert_memory_equal(in, out, SHM_CLASS_MAX * sizeof(*in));
	free(in);
	free(out);
	shm_destroy(r);
}

static void
test_window_publish_recovers_from_a_writer_that_died_mid_write(void **state)
{
	char err[256];
	struct shm_region *r = shm_create(err, sizeof(err));
	struct shm_hist_snapshot *in = calloc(SHM_CLASS_MAX, sizeof(*in));

	assert_non_null(r);
	assert_non_null(in);
	r->window_seq = 3; /* a monitor was killed between its two increments */
	assert_int_equal(shm_window_read(r, in, NULL, NULL), -1);
	test_fill_window(in, 1);
	shm_window_publish(r, in, 60, 1);
	assert_int_equal(r->window_seq % 2, 0);
	assert_int_equal(shm_window_read(r, in, NULL, NULL), 0);
	free(in);
	shm_destroy(r);
}

struct test_publisher {
	struct shm_region *r;
	_Atomic int stop;
};

static void *
test_publish_loop(void *arg)
{
	struct test_publisher *p = arg;
	struct shm_hist_snapshot *in = calloc(SHM_CLASS_MAX, sizeof(*in));
	uint64_t g;

	for (g = 1; !atomic_load(&p->stop); g++) {
		test_fill_window(in, g);
		shm_window_publish(p->r, in, g, g);
		/* a pause like the monitor's (much shorter), so readers sometimes get through */
		if (g % 4 == 0)
			usleep(20);
	}
	free(in);
	return NULL;
}

static void
test_window_reader_never_sees_a_torn_window(void **state)
{
	char err[256];
	struct test_publisher p = {.r = shm_create(err, sizeof(err))};
	struct shm_hist_snapshot *out = calloc(SHM_CLASS_MAX, sizeof(*out));
	struct shm_hist_snapshot *want = calloc(SHM_CLASS_MAX, sizeof(*want));
	uint64_t period, end;
	pthread_t t;
	int k, ok = 0, torn = 0;

	assert_non_null(p.r);
	assert_non_null(out);
	assert_non_null(want);
	assert_int_equal(pthread_create(&t, NULL, test_publish_loop, &p), 0);
	while (atomic_load(&p.r->window_seq) == 0)
		sched_yield(); /* the first window */
	/* reads race the publisher; -1 means the reader gave up under contention */
	for (k = 0; k < 1000000 && ok < 2000; k++) {
		if (shm_window_read(p.r, out, &period, &end) == -1)
			continue;
		ok++;
		test_fill_window(want, period);
		if (period != end || memcmp(want, out, SHM_CLASS_MAX * sizeof(*out)) != 0)
			torn++;
	}
	atomic_store(&p.stop, 1);
	pthread_join(t, NULL);
	assert_int_equal(torn, 0);
	assert_true(ok > 0);
	free(out);
	free(want);
	shm_destroy(p.r);
}

static void
test_names_cover_every_enum_value(void **state)
{
	assert_string_equal(shm_class_name(SHM_CLASS_HEALTH), "health");
	assert_string_equal(shm_class_name(SHM_CLASS_ORGANIZATION), "organization");
	assert_string_equal(shm_class_name(SHM_CLASS_PERFORMANCE), "performance");
	assert_string_equal(shm_class_name(SHM_CLASS_OTHER), "other");
	assert_string_equal(shm_resource_name(SHM_RES_STATS), "stats");
	assert_string_equal(shm_dependency_name(SHM_DEP_MONGODB), "mongodb");
	assert_string_equal(shm_dependency_name(SHM_DEP_REDIS), "redis");
	assert_string_equal(shm_db_command_name(SHM_DBCMD_FIND_AND_MODIFY), "findAndModify");
	assert_string_equal(shm_db_command_name(SHM_DBCMD_CREATE_INDEXES), "createIndexes");
}

static void
test_db_command_from_name_round_trips_and_maps_unknown_to_other(void **state)
{
	int c;

	for (c = 0; c < SHM_DBCMD_MAX; c++)
		assert_int_equal(
		    shm_db_command_from_name(shm_db_command_name((enum shm_db_command)c)), c);
	assert_int_equal(shm_db_command_from_name("getMore"), SHM_DBCMD_OTHER);
	assert_int_equal(shm_db_command_from_name("FIND"), SHM_DBCMD_OTHER);
	assert_int_equal(shm_db_command_from_name(""), SHM_DBCMD_OTHER);
	assert_int_equal(shm_db_command_from_name(NULL), SHM_DBCMD_OTHER);
}

static void
test_worker_claim_and_release_reset_the_slot(void **state)
{
	char err[256];
	struct shm_region *r = shm_create(err, sizeof(err));
	uint64_t now_ms = (uint64_t)time(NULL) * 1000;

	assert_non_null(r);
	r->workers[3].requests = 99;
	r->workers[3].inflight = 4;
	shm_worker_claim(r, 3, 4242);
	assert_int_equal(r->workers[3].pid, 4242);
	assert_int_equal(r->workers[3].requests, 0);
	assert_int_equal(r->workers[3].inflight, 0);
	assert_true(r->workers[3].started_at_ms + 2000 >= now_ms);
	assert_true(r->workers[3].started_at_ms <= now_ms + 2000);
	shm_worker_release(r, 3);
	assert_int_equal(r->workers[3].pid, 0);
	shm_worker_claim(r, -1, 1);		 /* out of range: ignored */
	shm_worker_claim(r, SHM_MAX_WORKERS, 1); /* out of range: ignored */
	shm_destroy(r);
}

/* A reload retires the old generation only once the new one's slots say they serve. */
static void
test_worker_serving_flag_is_cleared_by_release_only(void **state)
{
	char err[256];
	struct shm_region *r = shm_create(err, sizeof(err));

	assert_non_null(r);
	shm_worker_claim(r, SHM_MAX_WORKERS - 1, 77);
	assert_int_equal(shm_worker_is_serving(r, SHM_MAX_WORKERS - 1), 0);
	shm_worker_serving(r, SHM_MAX_WORKERS - 1);
	assert_int_equal(shm_worker_is_serving(r, SHM_MAX_WORKERS - 1), 1);
	/* the master's claim after fork may come after the worker's: it must not undo it */
	shm_worker_claim(r, SHM_MAX_WORKERS - 1, 77);
	assert_int_equal(shm_worker_is_serving(r, SHM_MAX_WORKERS - 1), 1);
	shm_worker_release(r, SHM_MAX_WORKERS - 1);
	assert_int_equal(shm_worker_is_serving(r, SHM_MAX_WORKERS - 1), 0);
	shm_worker_serving(r, -1); /* out of range: ignored */
	shm_worker_serving(r, SHM_MAX_WORKERS);
	assert_int_equal(shm_worker_is_serving(r, -1), 0);
	assert_int_equal(shm_worker_is_serving(r, SHM_MAX_WORKERS), 0);
	shm_destroy(r);
}

/* Issue 8: the invalidations that missed Redis are kept by name, once each, for the monitor. */
static void
test_missed_invalidations_are_taken_once_each(void **state)
{
	char err[256], out[SHM_MISSED_MAX][SHM_MISSED_NAME];
	struct shm_region *r = shm_create(err, sizeof(err));

	(void)state;
	assert_non_null(r);
	assert_int_equal(shm_missed_take(r, out), 0);
	shm_missed_add(r, "clinic:1");
	shm_missed_add(r, "list:clinic");
	shm_missed_add(r, "clinic:1");
	assert_int_equal(shm_missed_take(r, out), 2);
	assert_string_equal(out[0], "clinic:1");
	assert_string_equal(out[1], "list:clinic");
	/* taken: empty until the next miss */
	assert_int_equal(shm_missed_take(r, out), 0);
	shm_destroy(r);
}

/* More names than fit, or a name too long, turn into "drop everything" (-1), once. */
static void
test_missed_invalidations_overflow_into_dropping_everything(void **state)
{
	char err[256], name[SHM_MISSED_NAME + 8], out[SHM_MISSED_MAX][SHM_MISSED_NAME];
	struct shm_region *r = shm_create(err, sizeof(err));
	int i;

	(void)state;
	assert_non_null(r);
	for (i = 0; i <= SHM_MISSED_MAX; i++) {
		snprintf(name, sizeof(name), "clinic:%d", i);
		shm_missed_add(r, name);
	}
	assert_int_equal(shm_missed_take(r, out), -1);
	assert_int_equal(shm_missed_take(r, out), 0);
	memset(name, 'a', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	shm_missed_add(r, name);
	assert_int_equal(shm_missed_take(r, out), -1);
	/* a lock left held (a process killed inside): adds overflow, the take frees it */
	atomic_flag_test_and_set(&r->l2_missed.lock);
	shm_missed_add(r, "clinic:2");
	assert_int_equal(shm_missed_take(r, out), -1);
	shm_missed_add(r, "clinic:3");
	assert_int_equal(shm_missed_take(r, out), 1);
	shm_destroy(r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_missed_invalidations_are_taken_once_each),
	    cmocka_unit_test(test_missed_invalidations_overflow_into_dropping_everything),
	    cmocka_unit_test(test_bucket_bounds_are_contiguous_and_monotone),
	    cmocka_unit_test(test_bucket_index_maps_every_edge_into_its_bucket),
	    cmocka_unit_test(test_bucket_index_holds_random_values),
	    cmocka_unit_test(test_buckets_below_32_are_exact),
	    cmocka_unit_test(test_bucket_width_is_at_most_a_32nd_above_32),
	    cmocka_unit_test(test_values_past_the_top_are_clamped),
	    cmocka_unit_test(test_empty_histogram_reports_zero),
	    cmocka_unit_test(test_percentiles_of_exponential_samples_are_within_bucket_error),
	    cmocka_unit_test(test_percentiles_of_bimodal_samples_are_within_bucket_error),
	    cmocka_unit_test(
		test_percentiles_of_uniform_samples_over_the_whole_range_are_within_bucket_error),
	    cmocka_unit_test(test_percentile_of_exact_rank_takes_the_lower_sample),
	    cmocka_unit_test(test_count_le_counts_whole_buckets_at_or_below),
	    cmocka_unit_test(test_subtract_leaves_only_the_window),
	    cmocka_unit_test(test_merge_adds_counts_and_keeps_the_larger_max),
	    cmocka_unit_test(test_record_request_counts_status_classes),
	    cmocka_unit_test(test_create_sets_the_header),
	    cmocka_unit_test(test_region_is_shared_by_concurrent_processes),
	    cmocka_unit_test(test_window_publish_then_read_round_trips),
	    cmocka_unit_test(test_window_publish_recovers_from_a_writer_that_died_mid_write),
	    cmocka_unit_test(test_window_reader_never_sees_a_torn_window),
	    cmocka_unit_test(test_names_cover_every_enum_value),
	    cmocka_unit_test(test_db_command_from_name_round_trips_and_maps_unknown_to_other),
	    cmocka_unit_test(test_worker_claim_and_release_reset_the_slot),
	    cmocka_unit_test(test_worker_serving_flag_is_cleared_by_release_only),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
