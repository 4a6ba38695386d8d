/* admit.c: admission by expected wait (see admit.h). */
#include "admit.h"

void
admit_observe(struct admit *a, uint64_t service_us)
{
	if (a->samples++ == 0) {
		a->service_us = service_us;
		return;
	}
	if (service_us >= a->service_us)
		a->service_us += (service_us - a->service_us) >> ADMIT_EWMA_SHIFT;
	else
		a->service_us -= (a->service_us - service_us) >> ADMIT_EWMA_SHIFT;
}

int
admit_thread_free(const struct admit_view *v)
{
	return v->queued == 0 && v->running < (size_t)(v->nthreads > 0 ? v->nthreads : 1);
}

uint64_t
admit_service_us(const struct admit *a, const struct admit_view *v)
{
	if (!admit_thread_free(v) && v->youngest_age_us > a->service_us)
		return v->youngest_age_us;
	return a->service_us;
}

uint64_t
admit_expected_wait_us(const struct admit *a, const struct admit_view *v)
{
	uint64_t s = admit_service_us(a, v);
	uint64_t n = (uint64_t)(v->nthreads > 0 ? v->nthreads : 1);

	if (admit_thread_free(v))
		return 0;
	return (uint64_t)v->queued * s / n + s / 2;
}

int
admit_allow(const struct admit *a, const struct admit_view *v, uint64_t now_us, uint64_t due_us)
{
	if (due_us == 0 || admit_thread_free(v))
		return 1;
	return now_us + admit_expected_wait_us(a, v) + admit_service_us(a, v) <= due_us;
}
