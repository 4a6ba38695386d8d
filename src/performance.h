/* performance.h: the JSON performance endpoints, read from the shared region. */
#ifndef ENTERPRISED_PERFORMANCE_H
#define ENTERPRISED_PERFORMANCE_H

#include "http.h"

void performance_summary(struct http_req *r);
/* The read cache's counters per resource (metrics_cache_stats_json). */
void performance_cache_stats(struct http_req *r);
/* Each dependency's circuit breaker: state, consecutive failures, times opened. */
void performance_circuit_breakers(struct http_req *r);

#endif
