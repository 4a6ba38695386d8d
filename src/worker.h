/*
 * worker.h: the context of one serving process (a worker, or the monitor, which serves
 * /metrics with the same HTTP engine). Everything a request needs hangs off it; there is no
 * other process state.
 */
#ifndef ENTERPRISED_WORKER_H
#define ENTERPRISED_WORKER_H

#include <openssl/ssl.h>
#include <signal.h>
#include <stdint.h>

#include "config.h"
#include "router.h"
#include "shm.h"

struct http_server;
struct backend_pool;
struct mongo;
struct cache_l1;
struct readcache_flights;
struct auth_memo;
struct dashboard;
struct keymgr_end;

/* A bound listening socket, made by the master before fork. */
struct worker_listener {
	int fd;
	int tls;
	char addr[96]; /* "127.0.0.1:8888", for messages */
};

struct worker {
	int index; /* worker number in its generation (worker-N), -1 for the monitor */
	int slot;  /* its slot in shm->workers (differs from index after a reload), -1: none */
	const struct config *conf;
	struct shm_region *shm;
	const struct router_table *routes;
	int record; /* record requests in the shared region */
	struct http_server *http;
	struct backend_pool *fast;    /* reads and writes */
	struct backend_pool *slow;    /* reports, index builds */
	struct backend_pool *exports; /* streamed exports (issue 9) */
	struct backend_pool *cache;   /* read cache lookups in Redis (NULL: cache off) */
	struct mongo *mongo;	      /* NULL in the monitor */
	struct auth *auth;	      /* bearer token verifier (API workers) */
	struct auth_memo *auth_memo;  /* tokens this worker verified (loop thread only) */
	struct cache_l1 *l1;
	struct readcache_flights *flights;
	/* reads in flight, followed by the same misses */ /* worker memory (read cache L1),
							      loop thread only */
	struct health_state *health; /* the last readiness answer (health.c); NULL: none kept */
	struct dashboard *dashboard; /* the monitor's recent history (dashboard.c); NULL: workers */
	uint8_t page_key[32];	     /* signs list cursors; same in every worker */
	volatile sig_atomic_t *stop; /* set by SIGTERM/SIGINT */
};

/* Runs worker `index` (its process name) in shm slot `slot` until it is told to stop, drains
 * (worker_drain), then exits the process. km: its socket to the keymgr, which signs for ssl
 * (NULL: ssl holds the key itself, `keymgr off`). */
_Noreturn void worker_main(int index, int slot, const struct config *c, struct shm_region *shm,
			   const struct worker_listener *ls, int nls, SSL_CTX *ssl,
			   const struct keymgr_end *km);

/*
 * The one drain of a serving process (a worker on SIGTERM, or retired by a reload, and the
 * monitor): stops accepting, lets the requests in flight finish, and lets every open
 * connection end on its own: HTTP/1.1 clients get `Connection: close` on their next answer
 * (RFC 9112 section 9.6), HTTP/2 clients a GOAWAY. Returns once nothing is in flight and no
 * connection is open, or nothing has been in flight for WORKER_DRAIN_IDLE_MS (the
 * connections left are idle and are closed at exit, as a keep-alive timeout would), or
 * timeout_ms have passed. Returns the requests still in flight (0 for a clean drain).
 */
size_t worker_drain(struct http_server *s, uint64_t timeout_ms);

/* Installs SIGTERM/SIGINT handlers that set *flag, and ignores SIGPIPE. */
void worker_signals_install(volatile sig_atomic_t *flag);

#endif
