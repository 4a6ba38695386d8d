/*
 * seed_rng.h: the random numbers of tools/seed.c, apart so that tests/unit/test_seed.c can pin
 * them: a change here changes every seeded data set, and the test says so.
 *
 * splitmix64 (Steele, Lea and Flood; the reference is Vigna's splitmix64.c): one 64-bit word
 * of state, enough for fake data, and the same on every platform, unlike rand().
 */
#ifndef ENTERPRISED_SEED_RNG_H
#define ENTERPRISED_SEED_RNG_H

#include <stddef.h>
#include <stdint.h>

struct seed_rng {
	uint64_t state;
};

/* splitmix64's output function: a 64-bit mix with full avalanche. */
static inline uint64_t
seed_mix(uint64_t z)
{
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static inline uint64_t
seed_rng_next(struct seed_rng *r)
{
	r->state += UINT64_C(0x9e3779b97f4a7c15);
	return seed_mix(r->state);
}

/*
 * A stream of its own for each (seed, purpose, index). The state is hashed, not offset:
 * splitmix64 states that differ by a multiple of its increment are the same sequence shifted.
 */
static inline void
seed_rng_init(struct seed_rng *r, uint64_t seed, uint64_t purpose, uint64_t index)
{
	r->state = seed_mix(seed ^ seed_mix(purpose * UINT64_C(0x632be59bd9b4e019) + index + 1));
}

/* 0 <= result < n (n > 0); multiply-shift, whose bias is far below what fake data can show. */
static inline uint32_t
seed_rng_below(struct seed_rng *r, uint32_t n)
{
	return (uint32_t)(((seed_rng_next(r) >> 32) * (uint64_t)n) >> 32);
}

/* lo <= result <= hi */
static inline uint32_t
seed_rng_range(struct seed_rng *r, uint32_t lo, uint32_t hi)
{
	return lo + seed_rng_below(r, hi - lo + 1);
}

/* A time in [lo, hi] (milliseconds); lo when the span is empty. */
static inline int64_t
seed_rng_time(struct seed_rng *r, int64_t lo, int64_t hi)
{
	if (hi <= lo)
		return lo;
	return lo + (int64_t)(seed_rng_next(r) % (uint64_t)(hi - lo + 1));
}

static inline int
seed_rng_percent(struct seed_rng *r, uint32_t pct)
{
	return seed_rng_below(r, 100) < pct;
}

/* An index into weights[0..n-1], chosen in proportion to the weights (their sum > 0). */
static inline size_t
seed_rng_weighted(struct seed_rng *r, const unsigned *weights, size_t n)
{
	unsigned total = 0, x;
	size_t i;

	for (i = 0; i < n; i++)
		total += weights[i];
	x = seed_rng_below(r, total);
	for (i = 0; i + 1 < n; i++) {
		if (x < weights[i])
			return i;
		x -= weights[i];
	}
	return n - 1;
}

#endif
