/* performance.c: JSON views of the shared region (the reports themselves are in metrics.c). */
#include "performance.h"

#include "api.h"
#include "clock.h"
#include "metrics.h"
#include "worker.h"

/*
 * Answered on the loop thread: the region is memory, reading it never blocks. The figures
 * cover every tenant (request counts, cache and breaker state), so they are for platform
 * administrators only: any other role gets 403 (issue 7, section 5).
 */
static void
performance_answer(struct http_req *r,
		   void (*write)(struct buf *, const struct shm_region *, uint64_t now_ms))
{
	struct auth_principal who;
	struct http_response res;
	struct buf b;

	if (api_authenticate_or_answer(r, &who) != 0)
		return;
	if (who.role != AUTH_ROLE_PLATFORM_ADMIN) {
		http_respond_problem(r, 403, "performance figures are for platform administrators");
		return;
	}
	buf_init(&b);
	write(&b, r->worker->shm, (uint64_t)clock_wall_ms());
	http_response_init(&res);
	http_response_json(&res, 200, &b);
	http_response_header(&res, "cache-control", "no-store");
	http_respond(r, &res);
}

static void
performance_cache_stats_json(struct buf *out, const struct shm_region *r, uint64_t now_ms)
{
	(void)now_ms;
	metrics_cache_stats_json(out, r);
}

void
performance_summary(struct http_req *r)
{
	performance_answer(r, metrics_summary_json);
}

/* GET /api/v1/performance/cache/stats: the read cache's counters per resource. */
void
performance_cache_stats(struct http_req *r)
{
	performance_answer(r, performance_cache_stats_json);
}

/* GET /api/v1/performance/circuit-breakers: each dependency's breaker. */
void
performance_circuit_breakers(struct http_req *r)
{
	performance_answer(r, metrics_circuit_breakers_json);
}
