/* health.h: liveness (answered on the loop thread) and readiness (pings from a backend). */
#ifndef ENTERPRISED_HEALTH_H
#define ENTERPRISED_HEALTH_H

#include "http.h"

void health_live(struct http_req *r);
void health_ready(struct http_req *r);

/*
 * The last readiness answer of one worker, reused while it is less than HEALTH_READY_MAX_AGE_MS
 * old, so that unauthenticated /health/ready calls cost at most one MongoDB and one Redis ping
 * per worker per second (issue 7, section 5). Owned by the worker; NULL when out of memory.
 */
#define HEALTH_READY_MAX_AGE_MS 1000
struct health_state;
struct health_state *health_state_new(void);
void health_state_free(struct health_state *h);

#endif
