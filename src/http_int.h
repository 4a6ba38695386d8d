/*
 * http_int.h: what the halves of the HTTP engine share (http.c: server, handler, logger;
 * http_response.c: building answers; http_job.c: deferred work, deadlines, shed cut-offs;
 * http_stream.c: streamed answers).
 * Private: included by http*.c only, never outside them.
 */
#ifndef ENTERPRISED_HTTP_INT_H
#define ENTERPRISED_HTTP_INT_H

#include <h2o.h>

#include "config.h"
#include "http.h"

struct http_listener {
	struct http_server *server;
	h2o_socket_t *sock;
	int tls;
};

struct http_server {
	struct worker *worker;
	h2o_globalconf_t config;
	h2o_context_t ctx;
	h2o_evloop_t *loop;
	h2o_accept_ctx_t accept_tls;
	h2o_accept_ctx_t accept_plain;
	h2o_multithread_queue_t *queue;
	h2o_multithread_receiver_t receiver;
	h2o_multithread_receiver_t stream_receiver;
	h2o_linklist_t streams; /* live struct http_stream (loop thread) */
	/* default, search, report, read budget, write budget, export */
	h2o_timeout_t deadline[6];
	/* reads cut at HTTP_SHED_CUTOFF x their class's shed budget (not initialized: 0 budget) */
	h2o_timeout_t cutoff[SHM_CLASS_MAX];
	h2o_timeout_t tick; /* flushes the access log */
	h2o_timeout_entry_t tick_entry;
	struct http_listener listeners[CONFIG_MAX_SERVERS + 1];
	int nlisteners;
	size_t inflight; /* requests that reached the handler and are not disposed yet */
	size_t open;	 /* accepted sockets not closed yet, TLS handshakes included */
	int stopping;	 /* draining: no new work nobody waits for (http_defer_background) */
	int accesslog_fd;
	struct buf accesslog;
	uint64_t rid_prefix; /* made ids: this random prefix and the count of ids made */
	uint64_t rid_count;
};

/*
 * A request as the handler allocates it: the public part, then its own deadline. Every
 * request that waits for work, as the work's owner or as a follower of another request's work
 * (single-flight), has a deadline of its own, armed when it starts waiting: when it passes,
 * that request alone gets 504. An owner that leaves (deadline, client gone) hands the work to
 * its first follower; work nobody waits for any more is cancelled and can take no followers.
 */
struct http_req_ext {
	struct http_req r;
	h2o_timeout_entry_t deadline;
	h2o_timeout_entry_t cutoff; /* a read's shed cut-off (issue 8), armed with the deadline */
};

#define HTTP_DEADLINE_OF(r) (&((struct http_req_ext *)(r))->deadline)
#define HTTP_CUTOFF_OF(r) (&((struct http_req_ext *)(r))->cutoff)

/* --- http_response.c --- */

/* The response's own header `name` (a lower-case literal), or NULL. */
const char *http_response_find(const struct http_response *res, const char *name);

/* Adds "instance": "urn:request:<id>" to a problem+json body (RFC 9457 §3.1.5), once; other
 * bodies, and an empty id, leave res as it is. */
void http_response_add_instance(struct http_response *res, const char *id);

/* Fills dst (not initialized yet) with a copy of src for another request: body and owned
 * header values copied, borrowed ones shared. */
void http_response_copy(struct http_response *dst, const struct http_response *src);

/* --- http.c --- */

/* Loop thread: status, content type and res's headers onto the engine's response (owned
 * values copied into req's pool, borrowed ones must outlive the request). */
void http_respond_head(h2o_req_t *req, int status, const struct http_response *res);

/* --- http_job.c --- */

/* Loop thread: sets r's deadline and cut-off callbacks (r freshly zeroed, in its pool). */
void http_job_req_init(struct http_req *r);

/* Loop thread: r's pool is freed: stops its timers and detaches it from the work it waits
 * for (an owner hands the work to its first follower, or cancels it). */
void http_job_req_dispose(struct http_req *r);

/* Starts r's own deadline (its route class timeout) unless it runs already, and a read's
 * shed cut-off (issue 8). */
void http_job_deadline_arm(struct http_req *r);

/* The backend pool r's route runs on (fast, slow or export); NULL when it has none. */
struct backend_pool *http_job_pool(const struct http_req *r);

/* Loop thread: the h2o receiver of finished jobs (answers them, then frees them). */
void http_job_on_done(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages);

/* The deadline timeouts of each route class and the read cut-offs of the classes with a shed
 * budget (c's *_timeout_ms, *_budget_ms and shed_budget_*_ms). */
void http_job_timeouts_init(struct http_server *s, const struct config *c);

/* --- http_ratelimit.c --- */

/*
 * Loop thread, after routing and before the handler: charges r to its caller's bucket of its
 * route class (ratelimit.h). Returns 0 to go on (the RateLimit-Policy and RateLimit headers
 * are already on the answer), or 1 when it answered 429 itself.
 */
int http_ratelimit_or_answer(struct http_req *r);

/* --- http_stream.c --- */

/* Loop thread: the request no longer takes bytes from st (gone, deadline, answered). */
void http_stream_detach(struct http_stream *st);

/* Loop thread: the h2o receiver of the backend threads' stream wake-ups. */
void http_stream_on_msgs(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages);

#endif
