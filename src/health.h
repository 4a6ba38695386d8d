/* health.h: liveness (answered on the loop thread) and readiness (pings from a backend). */
#ifndef ENTERPRISED_HEALTH_H
#define ENTERPRISED_HEALTH_H

#include "http.h"

void health_live(struct http_req *r);
void health_ready(struct http_req *r);

#endif
