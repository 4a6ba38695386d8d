/*
 * monitor.c: the monitor process (see monitor.h).
 *
 * Windows without work on the request path: the region only holds totals since start. Each
 * interval the monitor snapshots them, subtracts the previous snapshot, logs the difference
 * as the guide's summary line and publishes it for the JSON endpoints.
 */
#include "monitor.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "dashboard.h"
#include "log.h"
#include "metrics.h"
#include "readcache_listener.h"
#include "sandbox.h"

#include <mongoc/mongoc.h>

struct monitor_window {
	struct shm_hist_snapshot prev[SHM_CLASS_MAX];
	struct shm_hist_snapshot cur[SHM_CLASS_MAX];
};

static int
monitor_live_workers(const struct shm_region *shm)
{
	int i, n = 0;

	for (i = 0; i < SHM_MAX_WORKERS; i++)
		if (atomic_load_explicit(&shm->workers[i].pid, memory_order_relaxed) != 0)
			n++;
	return n;
}

void
monitor_metrics(struct http_req *r)
{
	struct http_response res;

	http_response_init(&res);
	metrics_prometheus(&res.body, r->worker->shm, monitor_live_workers(r->worker->shm));
	res.status = 200;
	res.content_type = "text/plain; version=0.0.4; charset=utf-8";
	http_response_header(&res, "cache-control", "no-store");
	http_respond(r, &res);
}

static void
monitor_close_window(const struct config *c, struct shm_region *shm, struct monitor_window *mw,
		     uint64_t period_s)
{
	struct shm_hist_snapshot window[SHM_CLASS_MAX];
	struct buf line;
	int i;

	for (i = 0; i < SHM_CLASS_MAX; i++) {
		shm_hist_snapshot(&shm->latency[i], &mw->cur[i]);
		window[i] = mw->cur[i];
		shm_hist_subtract(&window[i], &mw->prev[i]);
		mw->prev[i] = mw->cur[i];
	}
	shm_window_publish(shm, window, period_s, (uint64_t)clock_wall_ms());
	if (!c->monitoring_enabled)
		return;
	buf_init(&line);
	metrics_window_log_json(&line, window, period_s);
	log_json(line.data);
	buf_free(&line);
}

_Noreturn void
monitor_main(const struct config *c, struct shm_region *shm, int seccomp_slot,
	     const struct worker_listener *l)
{
	volatile sig_atomic_t stop = 0;
	struct monitor_window *mw;
	struct readcache_listener *listener;
	struct worker w = {0};
	char err[512] = "";
	uint64_t interval_ms = (uint64_t)c->monitor_interval * 1000, next, next_tick;
	int i, rc = 0;

	log_init("monitor");
	prctl(PR_SET_NAME, "monitor", 0, 0, 0);
	prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0);
	worker_signals_install(&stop);
	if (getppid() == 1)
		exit(1);

	if ((mw = calloc(1, sizeof(*mw))) == NULL || (w.dashboard = dashboard_new()) == NULL) {
		log_error("out of memory");
		exit(1);
	}
	(void)dashboard_vendor_load(w.dashboard, c); /* before the sandbox hides the directory */
	/* the first window starts now, not at the master's start */
	for (i = 0; i < SHM_CLASS_MAX; i++)
		shm_hist_snapshot(&shm->latency[i], &mw->prev[i]);
	atomic_store_explicit(&shm->monitor_pid, (int32_t)getpid(), memory_order_relaxed);

	w.index = -1;
	w.slot = -1;
	w.conf = c;
	w.shm = shm;
	w.routes = &router_monitor;
	w.record = 0;
	w.stop = &stop;
	listener = readcache_listener_start(c, shm, &stop);
	if (l != NULL) {
		if (http_server_new(&w, NULL, err, sizeof(err)) == NULL || err[0] != '\0' ||
		    http_server_listen(w.http, l->fd, 0, err, sizeof(err)) != 0) {
			log_error("metrics listener %s: %s", l->addr, err);
			rc = 1;
			goto out;
		}
		log_info("metrics on http://%s/metrics, dashboard on http://%s/dashboard, summary "
			 "every %d s",
			 l->addr, l->addr, c->monitor_interval);
	}
	if (sandbox_enter(SANDBOX_MONITOR, c, &shm->seccomp_nr[seccomp_slot], err, sizeof(err)) !=
	    0) {
		log_error("%s", err);
		rc = 1;
		goto out;
	}

	next = clock_mono_ms() + interval_ms;
	next_tick = clock_mono_ms();
	while (!stop) {
		uint64_t now = clock_mono_ms();
		uint64_t due = next < next_tick ? next : next_tick;
		int wait = due > now ? (int)(due - now) : 0;

		if (wait > 200)
			wait = 200;
		if (w.http != NULL) {
			if (http_server_run(w.http, wait) != 0) {
				rc = 1;
				break;
			}
		} else {
			usleep((useconds_t)wait * 1000);
		}
		if (clock_mono_ms() >= next_tick) {
			/* the dashboard's sample of the second (dashboard.h); nobody can ask for
			 * it without the listener */
			if (w.http != NULL)
				dashboard_tick(w.dashboard, shm, (uint64_t)clock_wall_ms());
			next_tick += DASHBOARD_TICK_MS;
			if (next_tick < clock_mono_ms()) /* stalled: no burst of catch-up samples */
				next_tick = clock_mono_ms() + DASHBOARD_TICK_MS;
		}
		if (clock_mono_ms() >= next) {
			monitor_close_window(c, shm, mw, (uint64_t)c->monitor_interval);
			next += interval_ms;
		}
	}
	/* retired by a reload, the next monitor already accepts on the same socket: a scrape in
	 * progress still gets its answer */
	if (w.http != NULL && rc == 0)
		worker_drain(w.http, (uint64_t)c->worker_shutdown_timeout * 1000);
out:
	stop = 1;
	readcache_listener_stop(listener);
	if (w.http != NULL)
		http_server_free(w.http);
	free(mw);
	dashboard_free(w.dashboard);
	mongoc_cleanup();
	exit(rc); /* from this frame, so what w holds stays reachable (see worker.c) */
}
