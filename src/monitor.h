/*
 * monitor.h: the monitor process. It never serves API traffic: it logs one JSON summary per
 * interval, publishes the last window in the shared region, and serves /metrics on its own
 * port, so scraping keeps working while the workers are saturated.
 */
#ifndef ENTERPRISED_MONITOR_H
#define ENTERPRISED_MONITOR_H

#include "config.h"
#include "http.h"
#include "shm.h"
#include "worker.h"

/* Runs the monitor until told to stop, then exits the process. */
_Noreturn void monitor_main(const struct config *c, struct shm_region *shm, int seccomp_slot,
			    const struct worker_listener *l);

/* GET /metrics (Prometheus text 0.0.4). */
void monitor_metrics(struct http_req *r);

#endif
