/*
 * worker.c: the life of a worker process.
 *
 * Start: name the process, build the HTTP server on the listeners the master bound, start the
 * backend pools, claim the worker slot. Serve: run the event loop until SIGTERM/SIGINT.
 * Stop: close the listeners (the shared accept queue stays with the other workers or the
 * kernel), let the requests in flight finish within worker_shutdown_timeout, then join the
 * backend threads and free everything.
 *
 * Worker 0 also makes sure the guide's indexes exist, from a thread of its own that retries
 * until MongoDB answers, so a database that is down at start never stops the server.
 */
#include "worker.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "backend.h"
#include "cache.h"
#include "clock.h"
#include "health.h"
#include "readcache.h"
#include "http.h"
#include "keymgr.h"
#include "log.h"
#include "mongo.h"
#include "page.h"
#include "reports.h"
#include "sandbox.h"
#include "validate.h"

#include <mongoc/mongoc.h>

#define WORKER_QUEUE_FAST 4096
#define WORKER_QUEUE_SLOW 256
/* an export holds its thread while the client reads: a few at a time per worker, the rest
 * wait in a short queue and then get 503 */
#define WORKER_EXPORT_THREADS 2
#define WORKER_QUEUE_EXPORT 16
#define WORKER_CACHE_THREADS 2

/* The only process-wide variable: where the signal handler reports a stop request. */
static volatile sig_atomic_t *worker_stop_flag;

static void
worker_on_signal(int sig)
{
	(void)sig;
	if (worker_stop_flag != NULL)
		*worker_stop_flag = 1;
}

void
worker_signals_install(volatile sig_atomic_t *flag)
{
	struct sigaction sa;
	sigset_t all;

	worker_stop_flag = flag;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = worker_on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	/* SIGHUP is the master's business (a terminal hang-up reaches the whole group) */
	sigaction(SIGHUP, &sa, NULL);
	sa.sa_handler = SIG_DFL;
	sigaction(SIGCHLD, &sa, NULL);
	/* the master blocks these around fork; a child starts with them open */
	sigemptyset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
}

struct worker_indexer {
	struct worker *w;
	pthread_t tid;
	int started;
};

static void *
worker_indexer_main(void *arg)
{
	struct worker_indexer *ix = arg;
	struct worker *w = ix->w;
	char err[512];
	int attempt = 0;

	while (!*w->stop) {
		mongoc_client_t *client = mongo_client_pop(w->mongo);
		int rc =
		    mongo_ping(client, err, sizeof(err)) == 0 &&
		    mongo_ensure_indexes(client, mongo_db_name(w->mongo), err, sizeof(err)) == 0;

		mongo_client_push(w->mongo, client);
		if (rc) {
			log_info("mongodb: indexes of database %s are in place",
				 mongo_db_name(w->mongo));
			return NULL;
		}
		if (attempt++ == 0)
			log_warn("%s; indexes will be created once MongoDB answers", err);
		for (int i = 0; i < 20 && !*w->stop; i++)
			usleep(100 * 1000);
	}
	return NULL;
}

/* Idle connections get this long after the last request in flight finished to send one more
 * request (answered with `Connection: close`) before the drain closes them. */
#define WORKER_DRAIN_IDLE_MS 1000

size_t
worker_drain(struct http_server *s, uint64_t timeout_ms)
{
	uint64_t now = clock_mono_ms(), deadline = now + timeout_ms, idle_since = 0;

	http_server_stop_accepting(s);
	while (now < deadline) {
		if (http_server_inflight(s) > 0) {
			idle_since = 0;
		} else {
			if (http_server_connections(s) == 0)
				break;
			if (idle_since == 0)
				idle_since = now;
			else if (now - idle_since >= WORKER_DRAIN_IDLE_MS)
				break;
		}
		http_server_run(s, 50);
		now = clock_mono_ms();
	}
	return http_server_inflight(s);
}

_Noreturn void
worker_main(int index, int slot, const struct config *c, struct shm_region *shm,
	    const struct worker_listener *ls, int nls, SSL_CTX *ssl, const struct keymgr_end *km)
{
	volatile sig_atomic_t stop = 0;
	struct worker w;
	struct worker_indexer indexer;
	struct reports_precompute *precompute = NULL;
	char name[16], err[512] = "";
	size_t left;
	int i, rc = 0;

	snprintf(name, sizeof(name), "worker-%d", index);
	log_init(name);
	prctl(PR_SET_NAME, name, 0, 0, 0);
	/* a master that dies without a word must not leave workers behind */
	prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0);
	worker_signals_install(&stop);
	if (getppid() == 1)
		exit(1);

	memset(&w, 0, sizeof(w));
	memset(&indexer, 0, sizeof(indexer));
	w.index = index;
	w.slot = slot;
	w.conf = c;
	w.shm = shm;
	w.routes = &router_api;
	w.record = 1;
	w.stop = &stop;

	if ((w.mongo = mongo_new(c, shm, err, sizeof(err))) == NULL) {
		log_error("%s", err);
		exit(1);
	}
	w.auth_memo = auth_memo_new();
	if ((w.auth = auth_new(c, err, sizeof(err))) == NULL) {
		log_error("%s", err);
		exit(1);
	}
	if (page_key_from_config(c, w.page_key) != 0) {
		log_error("page: no key for list cursors");
		exit(1);
	}
	if (c->cache_enabled && c->cache_l1_max_entries > 0 &&
	    (w.l1 = cache_l1_new((size_t)c->cache_l1_max_entries, c->cache_l1_max_bytes)) == NULL)
		log_warn("cache: no memory for the worker cache; serving without it");
	w.flights = readcache_flights_new();
	if ((w.health = health_state_new()) == NULL)
		log_warn("health: no memory for the readiness state; every call pings");
	w.fast = backend_pool_new(&w, SHM_POOL_FAST, c->worker_backend_threads, WORKER_QUEUE_FAST);
	w.slow = backend_pool_new(&w, SHM_POOL_SLOW, 1, WORKER_QUEUE_SLOW);
	w.exports =
	    backend_pool_new(&w, SHM_POOL_EXPORT, WORKER_EXPORT_THREADS, WORKER_QUEUE_EXPORT);
	/* Redis lookups get threads of their own: a hit never waits behind a database query */
	if (c->cache_enabled &&
	    (w.cache = backend_pool_new(&w, SHM_POOL_CACHE, WORKER_CACHE_THREADS,
					WORKER_QUEUE_FAST)) == NULL)
		log_warn("cache: no lookup threads; lookups share the database threads");
	if (w.fast == NULL || w.slow == NULL || w.exports == NULL) {
		rc = 1;
		goto out;
	}
	/* the master's context holds the certificate only: signatures come from the keymgr */
	if (ssl != NULL && km != NULL &&
	    keymgr_client_attach(ssl, km, shm, err, sizeof(err)) != 0) {
		log_error("%s", err);
		rc = 1;
		goto out;
	}
	if (http_server_new(&w, ssl, err, sizeof(err)) == NULL || err[0] != '\0') {
		log_error("%s", err);
		rc = 1;
		goto out;
	}
	for (i = 0; i < nls; i++) {
		if (http_server_listen(w.http, ls[i].fd, ls[i].tls, err, sizeof(err)) != 0) {
			log_error("%s: %s", ls[i].addr, err);
			rc = 1;
			goto out;
		}
	}
	if (index == 0) {
		indexer.w = &w;
		if (pthread_create(&indexer.tid, NULL, worker_indexer_main, &indexer) == 0)
			indexer.started = 1;
		else
			log_error("indexer thread: cannot start");
		/* background work: one worker does it (reports.h) */
		precompute = reports_precompute_start(&w);
	}
	/* everything is open and every thread started: give up the rest (sandbox.h) */
	validate_zoneinfo_open();
	if (sandbox_enter(SANDBOX_WORKER, c, &shm->seccomp_nr[slot], err, sizeof(err)) != 0) {
		log_error("%s", err);
		rc = 1;
		goto out;
	}
	shm_worker_claim(shm, slot, getpid());
	shm_worker_serving(shm, slot);
	log_info("serving (%d backend threads)", c->worker_backend_threads);

	while (!stop) {
		if (http_server_run(w.http, 100) != 0) {
			rc = 1;
			break;
		}
		readcache_warm_tick(&w);
	}

	/* drain: no new connections, finish what is in flight */
	if ((left = worker_drain(w.http, (uint64_t)c->worker_shutdown_timeout * 1000)) > 0)
		log_warn("stopping with %zu requests still in flight", left);
	else
		log_info("drained; stopping");

out:
	stop = 1;
	if (indexer.started)
		pthread_join(indexer.tid, NULL);
	/* an export waiting for the loop to send its batch would wait for ever now */
	if (w.http != NULL)
		http_stream_cancel_all(w.http);
	reports_precompute_stop(precompute);
	/* the cache threads first: a first stage they finish hands its job to fast or slow */
	backend_pool_free(w.cache);
	backend_pool_free(w.fast);
	backend_pool_free(w.slow);
	reports_precompute_free(precompute); /* after the pool: a queued run points at it */
	backend_pool_free(w.exports);
	http_server_free(w.http);
	mongo_free(w.mongo);
	auth_free(w.auth);
	auth_memo_free(w.auth_memo);
	cache_l1_free(w.l1);
	readcache_flights_free(w.flights);
	health_state_free(w.health);
	mongoc_cleanup();
	/* exit here, not in the caller: w (and what h2o still holds through it) stays reachable */
	exit(rc);
}
