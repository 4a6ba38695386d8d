/* breaker.c: circuit breakers in the shared region (see breaker.h). */
#include "breaker.h"

#include "config.h"

#define BREAKER_STATE(w) ((unsigned)((w)&0xff))
#define BREAKER_FAILS(w) ((uint32_t)(((w) >> 8) & 0xffffff))
#define BREAKER_OKS(w) ((uint32_t)(((w) >> 32) & 0xffffff))
#define BREAKER_PROBE (UINT64_C(1) << 56) /* a half-open probe is out */

static uint64_t
breaker_word(unsigned state, uint32_t fails, uint32_t oks, int probe)
{
	if (fails > 0xffffff)
		fails = 0xffffff;
	if (oks > 0xffffff)
		oks = 0xffffff;
	return (uint64_t)state | ((uint64_t)fails << 8) | ((uint64_t)oks << 32) |
	       (probe ? BREAKER_PROBE : 0);
}

enum shm_breaker_state
breaker_state(const struct shm_breaker *b)
{
	return (enum shm_breaker_state)BREAKER_STATE(
	    atomic_load_explicit(&b->word, memory_order_relaxed));
}

void
breaker_config_of(struct breaker_config *bc, const struct config *c)
{
	bc->enabled = c->breaker_enabled;
	bc->failure_threshold = c->breaker_failure_threshold;
	bc->success_threshold = c->breaker_success_threshold;
	bc->timeout_ms = (uint64_t)c->breaker_timeout_ms;
}

int
breaker_allow(struct shm_breaker *b, const struct breaker_config *c, uint64_t now_ms)
{
	uint64_t w, next;

	if (!c->enabled)
		return 1;
	w = atomic_load_explicit(&b->word, memory_order_acquire);
	for (;;) {
		uint64_t since = atomic_load_explicit(&b->opened_at_ms, memory_order_relaxed);

		switch (BREAKER_STATE(w)) {
		case SHM_BREAKER_CLOSED:
			return 1;
		case SHM_BREAKER_OPEN:
			if (now_ms - since < c->timeout_ms)
				return 0;
			/* time is up: this caller becomes the half-open probe */
			next = breaker_word(SHM_BREAKER_HALF_OPEN, 0, 0, 1);
			break;
		default: /* HALF_OPEN */
			if ((w & BREAKER_PROBE) && now_ms - since < c->timeout_ms)
				return 0;
			next = breaker_word(SHM_BREAKER_HALF_OPEN, 0, BREAKER_OKS(w), 1);
			break;
		}
		if (atomic_compare_exchange_weak_explicit(&b->word, &w, next, memory_order_acq_rel,
							  memory_order_acquire)) {
			/* a lost probe is forgotten a timeout after it left */
			atomic_store_explicit(&b->opened_at_ms, now_ms, memory_order_relaxed);
			return 1;
		}
	}
}

int
breaker_refuses(const struct shm_breaker *b, const struct breaker_config *c, uint64_t now_ms)
{
	uint64_t w, since;

	if (!c->enabled)
		return 0;
	w = atomic_load_explicit(&b->word, memory_order_acquire);
	since = atomic_load_explicit(&b->opened_at_ms, memory_order_relaxed);
	if (BREAKER_STATE(w) == SHM_BREAKER_OPEN)
		return now_ms - since < c->timeout_ms;
	if (BREAKER_STATE(w) == SHM_BREAKER_HALF_OPEN)
		return (w & BREAKER_PROBE) && now_ms - since < c->timeout_ms;
	return 0;
}

void
breaker_success(struct shm_breaker *b, const struct breaker_config *c)
{
	uint64_t w = atomic_load_explicit(&b->word, memory_order_acquire), next;

	if (!c->enabled)
		return;
	do {
		switch (BREAKER_STATE(w)) {
		case SHM_BREAKER_CLOSED:
			if (BREAKER_FAILS(w) == 0)
				return;
			next = breaker_word(SHM_BREAKER_CLOSED, 0, 0, 0);
			break;
		case SHM_BREAKER_HALF_OPEN:
			if (BREAKER_OKS(w) + 1 >= (uint32_t)c->success_threshold)
				next = breaker_word(SHM_BREAKER_CLOSED, 0, 0, 0);
			else
				next =
				    breaker_word(SHM_BREAKER_HALF_OPEN, 0, BREAKER_OKS(w) + 1, 0);
			break;
		default: /* a late success while OPEN changes nothing */
			return;
		}
	} while (!atomic_compare_exchange_weak_explicit(&b->word, &w, next, memory_order_acq_rel,
							memory_order_acquire));
}

void
breaker_failure(struct shm_breaker *b, const struct breaker_config *c, uint64_t now_ms)
{
	uint64_t w = atomic_load_explicit(&b->word, memory_order_acquire), next;
	int opens;

	if (!c->enabled)
		return;
	/* set before the state can turn OPEN: a caller that sees OPEN with the time of an
	 * earlier opening would take its probe at once. Harmless otherwise: the field is read
	 * only while OPEN or HALF_OPEN, and a failure ends HALF_OPEN anyway. */
	if (BREAKER_STATE(w) != SHM_BREAKER_OPEN)
		atomic_store_explicit(&b->opened_at_ms, now_ms, memory_order_relaxed);
	do {
		opens = 0;
		switch (BREAKER_STATE(w)) {
		case SHM_BREAKER_CLOSED:
			if (BREAKER_FAILS(w) + 1 >= (uint32_t)c->failure_threshold) {
				next = breaker_word(SHM_BREAKER_OPEN, 0, 0, 0);
				opens = 1;
			} else {
				next = breaker_word(SHM_BREAKER_CLOSED, BREAKER_FAILS(w) + 1, 0, 0);
			}
			break;
		case SHM_BREAKER_HALF_OPEN:
			next = breaker_word(SHM_BREAKER_OPEN, 0, 0, 0);
			opens = 1;
			break;
		default:
			return;
		}
	} while (!atomic_compare_exchange_weak_explicit(&b->word, &w, next, memory_order_acq_rel,
							memory_order_acquire));
	if (opens)
		atomic_fetch_add_explicit(&b->opens, 1, memory_order_relaxed);
}
