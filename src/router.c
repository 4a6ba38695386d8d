/*
 * router.c: the route tables. A reader finds the handler of any route here in one hop.
 *
 * Matching walks the table in order; tables are short (tens of routes) and a segment compare
 * costs nanoseconds, so a linear scan beats any index in clarity and is not measurable.
 */
#include "router.h"

#include <stdio.h>
#include <string.h>

#include "assignments.h"
#include "clinics.h"
#include "dashboard.h"
#include "debug.h"
#include "health.h"
#include "monitor.h"
#include "openapi.h"
#include "organizations.h"
#include "performance.h"
#include "reports.h"

#define GET HTTP_GET
#define POST HTTP_POST
#define PATCH HTTP_PATCH
#define DELETE HTTP_DELETE
#define V1 "/api/v1"
#define FAST ROUTER_QUEUE_FAST
#define SLOW ROUTER_QUEUE_SLOW
#define EXPORT ROUTER_QUEUE_EXPORT

/*
 * method  pattern  handler  class  queue  debug_only
 * A literal segment must come before a {param} that would also match it (search before {id}).
 */
/* clang-format off: one route per line reads as a table */
static const struct route router_api_routes[] = {
    {GET, V1 "/health/live", health_live, SHM_CLASS_HEALTH, FAST, 0},
    {GET, V1 "/health/ready", health_ready, SHM_CLASS_HEALTH, FAST, 0},
    {GET, V1 "/performance/metrics/summary", performance_summary, SHM_CLASS_PERFORMANCE, FAST, 0},
    {GET, V1 "/performance/cache/stats", performance_cache_stats, SHM_CLASS_PERFORMANCE, FAST, 0},
    {GET, V1 "/performance/circuit-breakers", performance_circuit_breakers, SHM_CLASS_PERFORMANCE,
     FAST, 0},
    {GET, V1 "/openapi.json", openapi_get, SHM_CLASS_OTHER, FAST, 0},

    {POST, V1 "/organizations", organizations_create, SHM_CLASS_ORGANIZATION, FAST, 0},
    {GET, V1 "/organizations", organizations_list, SHM_CLASS_LIST, FAST, 0},
    {GET, V1 "/organizations/search", organizations_search, SHM_CLASS_SEARCH, FAST, 0},
    {GET, V1 "/organizations/export", organizations_export, SHM_CLASS_EXPORT, EXPORT, 0},
    {GET, V1 "/organizations/{id}", organizations_get, SHM_CLASS_ORGANIZATION, FAST, 0},
    {PATCH, V1 "/organizations/{id}", organizations_patch, SHM_CLASS_ORGANIZATION, FAST, 0},
    {DELETE, V1 "/organizations/{id}", organizations_delete, SHM_CLASS_ORGANIZATION, FAST, 0},
    {GET, V1 "/organizations/{id}/stats", organizations_stats, SHM_CLASS_REPORT, SLOW, 0},
    {GET, V1 "/organizations/{id}/reports/staffing", reports_staffing, SHM_CLASS_REPORT, SLOW, 0},
    {GET, V1 "/reports/organizations", reports_organizations, SHM_CLASS_REPORT, SLOW, 0},

    {POST, V1 "/organizations/{orgId}/clinics", clinics_create, SHM_CLASS_CLINIC, FAST, 0},
    {GET, V1 "/organizations/{orgId}/clinics", clinics_org_list, SHM_CLASS_LIST, FAST, 0},
    {GET, V1 "/clinics", clinics_list, SHM_CLASS_LIST, FAST, 0},
    {GET, V1 "/clinics/search", clinics_search, SHM_CLASS_SEARCH, FAST, 0},
    {GET, V1 "/clinics/export", clinics_export, SHM_CLASS_EXPORT, EXPORT, 0},
    {GET, V1 "/clinics/{id}", clinics_get, SHM_CLASS_CLINIC, FAST, 0},
    {PATCH, V1 "/clinics/{id}", clinics_patch, SHM_CLASS_CLINIC, FAST, 0},
    {DELETE, V1 "/clinics/{id}", clinics_delete, SHM_CLASS_CLINIC, FAST, 0},

    {POST, V1 "/assignments", assignments_create, SHM_CLASS_ASSIGNMENT, FAST, 0},
    {GET, V1 "/assignments", assignments_list, SHM_CLASS_LIST, FAST, 0},
    {GET, V1 "/assignments/export", assignments_export, SHM_CLASS_EXPORT, EXPORT, 0},
    {GET, V1 "/assignments/{id}", assignments_get, SHM_CLASS_ASSIGNMENT, FAST, 0},
    {PATCH, V1 "/assignments/{id}", assignments_patch, SHM_CLASS_ASSIGNMENT, FAST, 0},
    {DELETE, V1 "/assignments/{id}", assignments_delete, SHM_CLASS_ASSIGNMENT, FAST, 0},
    {GET, V1 "/providers/{providerId}/clinics", assignments_related_provider_clinics,
     SHM_CLASS_ASSIGNMENT, FAST, 0},
    {GET, V1 "/clinics/{clinicId}/providers", assignments_related_clinic_providers,
     SHM_CLASS_ASSIGNMENT, FAST, 0},

    {GET, V1 "/debug/sleep", debug_sleep, SHM_CLASS_OTHER, FAST, 1},
    {POST, V1 "/debug/seccomp", debug_seccomp, SHM_CLASS_OTHER, FAST, 1},
};

static const struct route router_monitor_routes[] = {
    {GET, "/metrics", monitor_metrics, SHM_CLASS_PERFORMANCE, ROUTER_QUEUE_FAST, 0},
    {GET, "/dashboard", dashboard_page, SHM_CLASS_PERFORMANCE, ROUTER_QUEUE_FAST, 0},
    {GET, "/dashboard.js", dashboard_script, SHM_CLASS_PERFORMANCE, ROUTER_QUEUE_FAST, 0},
    {GET, "/dashboard.css", dashboard_style, SHM_CLASS_PERFORMANCE, ROUTER_QUEUE_FAST, 0},
    {GET, "/dashboard.json", dashboard_data, SHM_CLASS_PERFORMANCE, ROUTER_QUEUE_FAST, 0},
    {GET, "/vendor/{file}", dashboard_vendor, SHM_CLASS_PERFORMANCE, ROUTER_QUEUE_FAST, 0},
};

/* clang-format on */

const struct router_table router_api = {router_api_routes,
					sizeof(router_api_routes) / sizeof(router_api_routes[0])};
const struct router_table router_monitor = {
    router_monitor_routes, sizeof(router_monitor_routes) / sizeof(router_monitor_routes[0])};

/*
 * Matches one pattern against path. Literal segments compare exactly; `{name}` takes one
 * non-empty segment. Returns 1 on a match, with the parameters filled.
 */
static int
router_match_pattern(const char *pattern, const char *path, struct http_param *params, int *nparams)
{
	const char *p = pattern, *s = path;
	int n = 0;

	while (*p != '\0' && *s != '\0') {
		if (*p == '{') {
			const char *close = strchr(p, '}');
			size_t len = strcspn(s, "/");

			if (close == NULL || len == 0 || n == HTTP_MAX_PARAMS ||
			    len >= sizeof(params[n].value))
				return 0;
			if (params != NULL) {
				static const char *const names[] = {"id", "orgId", "providerId",
								    "clinicId", "file"};
				size_t nlen = (size_t)(close - p - 1);
				size_t k;

				params[n].name = "";
				for (k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
					if (strlen(names[k]) == nlen &&
					    memcmp(names[k], p + 1, nlen) == 0)
						params[n].name = names[k];
				}
				memcpy(params[n].value, s, len);
				params[n].value[len] = '\0';
			}
			n++;
			p = close + 1;
			s += len;
			continue;
		}
		if (*p != *s)
			return 0;
		p++;
		s++;
	}
	/* a trailing slash on the path is tolerated: "/a/" matches "/a" */
	if (*p == '\0' && (*s == '\0' || (s[0] == '/' && s[1] == '\0'))) {
		if (nparams != NULL)
			*nparams = n;
		return 1;
	}
	return 0;
}

static void
router_allow_append(char *allow, size_t allowlen, unsigned methods)
{
	static const enum http_method order[] = {HTTP_GET,   HTTP_HEAD,	  HTTP_POST,   HTTP_PUT,
						 HTTP_PATCH, HTTP_DELETE, HTTP_OPTIONS};
	size_t i, used;

	for (i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		if (!(methods & order[i]) || strstr(allow, http_method_name(order[i])) != NULL)
			continue;
		used = strlen(allow);
		snprintf(allow + used, allowlen - used, "%s%s", used ? ", " : "",
			 http_method_name(order[i]));
	}
}

enum router_result
router_match(const struct router_table *t, enum http_method method, const char *path, int debug,
	     const struct route **route, struct http_param *params, int *nparams, char *allow,
	     size_t allowlen)
{
	unsigned allowed = 0;
	size_t i;

	if (allowlen > 0)
		allow[0] = '\0';
	for (i = 0; i < t->nroutes; i++) {
		const struct route *rt = &t->routes[i];
		/* HEAD is served wherever GET is */
		unsigned methods = rt->methods | ((rt->methods & HTTP_GET) ? HTTP_HEAD : 0);

		if (rt->debug_only && !debug)
			continue;
		if (!router_match_pattern(rt->pattern, path, NULL, NULL))
			continue;
		if (methods & method) {
			router_match_pattern(rt->pattern, path, params, nparams);
			*route = rt;
			return ROUTER_FOUND;
		}
		allowed |= methods;
	}
	if (allowed == 0)
		return ROUTER_NOT_FOUND;
	if (allow != NULL && allowlen > 0)
		router_allow_append(allow, allowlen, allowed);
	return ROUTER_METHOD_NOT_ALLOWED;
}

enum shm_route_class
router_class_of(const struct router_table *t, enum http_method method, const char *path)
{
	const struct route *route;

	if (router_match(t, method, path, 1, &route, NULL, NULL, NULL, 0) == ROUTER_FOUND)
		return route->cls;
	return SHM_CLASS_OTHER;
}
