/*
 * reports.h: the report routes (class `report`, slow backend pool; see router.c) and the
 * background precompute of the platform report (class `background`). Rule: issue 9.
 */
#ifndef ENTERPRISED_REPORTS_H
#define ENTERPRISED_REPORTS_H

#include "http.h"

struct worker;

/* GET /reports/organizations (platform_admin): organizations by status x tier, new ones per
 * month over from..to, subscriptions ending within `days`. */
void reports_organizations(struct http_req *r);
/* GET /organizations/{id}/reports/staffing (that organization's org_admin, platform_admin). */
void reports_staffing(struct http_req *r);

/*
 * The platform report's precompute, in worker 0 only: a thread that every
 * report_precompute_interval seconds (the first time at once) queues one run on the worker's
 * slow backend pool, unless the last run is still queued or running. A run computes the report
 * as GET /reports/organizations without parameters would, stores it in Redis under that
 * request's cache key, and is recorded in the `background` class (latency histogram and status
 * counters of the shared region). NULL when the interval is 0 (the default) or the cache is off.
 * Stop it (joins the thread) before the backend pools are freed, free it after.
 */
struct reports_precompute;
struct reports_precompute *reports_precompute_start(struct worker *w);
void reports_precompute_stop(struct reports_precompute *p);
void reports_precompute_free(struct reports_precompute *p);

#endif
