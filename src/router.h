/*
 * router.h: the route table. Every route of the API is one line of router.c, saying method,
 * path pattern, handler, route class (for deadlines and histograms) and backend queue.
 * Patterns are literal segments and `{name}` parameters (one whole segment each).
 */
#ifndef ENTERPRISED_ROUTER_H
#define ENTERPRISED_ROUTER_H

#include <stddef.h>

#include "http.h"
#include "shm.h"

typedef void (*router_handler_fn)(struct http_req *r);

/* FAST: reads and writes; SLOW: reports; EXPORT: streamed exports, which hold a thread for as
 * long as the client reads */
enum router_queue { ROUTER_QUEUE_FAST, ROUTER_QUEUE_SLOW, ROUTER_QUEUE_EXPORT };

struct route {
	unsigned methods;    /* enum http_method bits */
	const char *pattern; /* "/api/v1/organizations/{id}" */
	router_handler_fn handler;
	enum shm_route_class cls; /* latency class and deadline */
	enum router_queue queue;  /* backend threads for deferred work */
	int debug_only;		  /* served only with `debug_routes yes` */
};

enum router_result { ROUTER_FOUND, ROUTER_NOT_FOUND, ROUTER_METHOD_NOT_ALLOWED };

struct router_table {
	const struct route *routes;
	size_t nroutes;
};

extern const struct router_table router_api;	 /* the workers' routes */
extern const struct router_table router_monitor; /* the monitor's port */

/*
 * Finds the route of (method, path). On ROUTER_FOUND sets *route and fills r->params; on
 * ROUTER_METHOD_NOT_ALLOWED writes the allowed methods ("GET, HEAD") into allow (when not NULL).
 * Routes marked debug_only are invisible unless debug is set.
 */
enum router_result router_match(const struct router_table *t, enum http_method method,
				const char *path, int debug, const struct route **route,
				struct http_param *params, int *nparams, char *allow,
				size_t allowlen);

/* The route class of a finished request (method and path): its route's class, or
 * SHM_CLASS_OTHER when no route serves it (404, 405, and what h2o refused before routing).
 * Debug-only routes count, whatever the configuration. */
enum shm_route_class router_class_of(const struct router_table *t, enum http_method method,
				     const char *path);

#endif
