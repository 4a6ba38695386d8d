/* debug.h: routes for tests and diagnosis, served only with `debug_routes yes`. */
#ifndef ENTERPRISED_DEBUG_H
#define ENTERPRISED_DEBUG_H

#include "http.h"

/* GET /api/v1/debug/sleep?ms=N: sleeps N ms (0..600000) on a backend thread. */
void debug_sleep(struct http_req *r);

#endif
