/* debug.h: routes for tests and diagnosis, served only with `debug_routes yes`. */
#ifndef ENTERPRISED_DEBUG_H
#define ENTERPRISED_DEBUG_H

#include "http.h"

/* GET /api/v1/debug/sleep?ms=N: sleeps N ms (0..600000) on a backend thread. */
void debug_sleep(struct http_req *r);

/*
 * POST /api/v1/debug/seccomp: makes a system call that no allow-list holds (personality(2),
 * a query that changes nothing), on the event loop thread. With `seccomp yes` the worker dies
 * of SIGSYS and the client's connection closes without an answer: the master logs the call,
 * counts it (enterprise_seccomp_violations_total{process="worker"}) and restarts the worker.
 * With `seccomp no` or `seccomp_tracing yes` it answers 200 {"survived": true}. Issue 12.
 */
void debug_seccomp(struct http_req *r);

#endif
