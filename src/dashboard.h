/*
 * dashboard.h: the live dashboard of the monitor's port (issue 10). The monitor keeps a short
 * history of the shared region (one sample a second) and serves, on its own plain-HTTP port so
 * it answers while the workers are saturated:
 *
 *	GET /dashboard		the page (assets/dashboard.html, embedded like openapi.json)
 *	GET /dashboard.js	its script, GET /dashboard.css its style (embedded)
 *	GET /dashboard.json	the figures, refreshed by the page every second
 *	GET /vendor/{file}	the chart library (uPlot) from where tools/deps installed it
 *				(monitor { dashboard_vendor_dir }), an allow-list of two names
 *
 * The page carries a strict CSP (default-src 'self'; no inline script or style) and nosniff.
 */
#ifndef ENTERPRISED_DASHBOARD_H
#define ENTERPRISED_DASHBOARD_H

#include <stdint.h>

#include "buf.h"
#include "http.h"
#include "shm.h"

struct config;

#define DASHBOARD_TICK_MS 1000 /* one sample a second */
#define DASHBOARD_SERIES 180   /* samples in the charts: the last three minutes */
#define DASHBOARD_WINDOW 60    /* samples behind the "last minute" figures */

struct dashboard;

/* A history with nothing in it (heap; NULL when memory is gone). Free with dashboard_free. */
struct dashboard *dashboard_new(void);
void dashboard_free(struct dashboard *d);

/*
 * Takes one sample of r at wall_ms (CLOCK_REALTIME ms): the totals since start, and from them
 * the last second's rate and p50/p95/p99 per route class, and the last minute's figures. The
 * monitor calls it every DASHBOARD_TICK_MS.
 */
void dashboard_tick(struct dashboard *d, const struct shm_region *r, uint64_t wall_ms);

/*
 * The body of GET /dashboard.json: {"nowMs","uptimeSeconds","windowSeconds","classes":[...],
 * "series":{...},"cache":[...],"breakers":[...],"workers":{...},"inflight","slowQueries":{...},
 * "chartLibrary"} (see assets/openapi.json, DashboardData). Totals are read from r now, so
 * they agree with /metrics; rates and percentiles come from the last samples. Latencies are
 * ms with three decimals; slow_threshold_ms: the database's slow-query threshold (mongodb {
 * slow_query_threshold }), shown with the recent slow commands; chart_library: 1 when the
 * vendor files are there.
 */
void dashboard_json(struct buf *out, const struct dashboard *d, const struct shm_region *r,
		    uint64_t now_ms, int slow_threshold_ms, int chart_library);

/* The route handlers above (monitor port only). */
void dashboard_page(struct http_req *r);
void dashboard_script(struct http_req *r);
void dashboard_style(struct http_req *r);
void dashboard_data(struct http_req *r);
void dashboard_vendor(struct http_req *r);
/*
 * Reads the chart library's files (the allow-list) from c->dashboard_vendor_dir into d, once,
 * when the monitor starts: before its sandbox, whose chroot hides that directory (issue 12).
 * A reinstalled library is picked up by the next monitor (SIGHUP). 0, or -1 (logged) when one
 * is missing or over 4 MiB: the page then shows its figures without charts.
 */
int dashboard_vendor_load(struct dashboard *d, const struct config *c);

#endif
