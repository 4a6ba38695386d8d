/*
 * metrics.h: every report made from the shared region, in one place, so the JSON endpoints, the
 * monitor's log line and the Prometheus page can never disagree about a number.
 *
 * Latencies in JSON are milliseconds with three decimals (the guide's unit, at our resolution).
 */
#ifndef ENTERPRISED_METRICS_H
#define ENTERPRISED_METRICS_H

#include <stdint.h>

#include "buf.h"
#include "json.h"
#include "shm.h"

/*
 * The body of GET /api/v1/performance/metrics/summary: the guide's `cache` and `circuitBreakers`
 * blocks, then `requests` (the last monitor window: period, totalRequests, responseTimes,
 * byClass) and `sinceStart` (the same, over all time), `workers` and `uptimeSeconds`.
 */
void metrics_summary_json(struct buf *out, const struct shm_region *r, uint64_t now_ms);

/*
 * The body of GET /api/v1/performance/cache/stats: one object per cached resource
 * ("organization", "clinic", "assignment", "list", "stats") and "total", each
 * {"hitRate":"85.23%","hits","l1Hits","l2Hits","misses","sets","deletes","errors"}.
 */
void metrics_cache_stats_json(struct buf *out, const struct shm_region *r);

/* {"total","open","halfOpen","closed","breakers":[{"dependency","state","consecutiveFailures",
 * "opens","openedSecondsAgo"}]} (now_ms: CLOCK_REALTIME, unused for the monotonic opening time) */
void metrics_circuit_breakers_json(struct buf *out, const struct shm_region *r, uint64_t now_ms);

/* "CLOSED", "OPEN", "HALF_OPEN" (or "UNKNOWN"): the state of dep's breaker, as the JSON endpoints
 * and the dashboard name it; /metrics has it as 0, 1, 2. */
const char *metrics_breaker_state_name(const struct shm_region *r, enum shm_dependency dep);

/*
 * The monitor's periodic line: {"message":"Performance metrics summary","period":"60s",
 * "totalRequests":N,"responseTimes":{"avg","p50","p95","p99","max"},"byClass":{...}}.
 * `classes` is one window (SHM_CLASS_MAX snapshots).
 */
void metrics_window_log_json(struct buf *out, const struct shm_hist_snapshot *classes,
			     uint64_t period_s);

/* Writes {"avg","p50","p95","p99","max"} of s as the value of the current key. */
void metrics_response_times_json(struct json *j, const struct shm_hist_snapshot *s);

/* The whole Prometheus text exposition (format 0.0.4) of the region. */
void metrics_prometheus(struct buf *out, const struct shm_region *r, int live_workers);

#endif
