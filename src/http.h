/*
 * http.h: requests and responses as handlers see them. h2o stays behind this header (and
 * behind worker.c, which builds the server), so a later engine change touches two files.
 *
 * Lifetime. A struct http_req lives in the request's memory pool and dies with the request:
 * when the client goes away, when HTTP/2 resets the stream, or when the next keep-alive
 * request arrives. A handler answers at once on the loop thread (http_respond_*) or hands
 * work to a backend thread with http_defer; the backend fills a struct http_response, and the
 * loop thread sends it if the request is still alive, or frees it if it is not. A deferred
 * request that is not answered within its route class deadline gets 504.
 */
#ifndef ENTERPRISED_HTTP_H
#define ENTERPRISED_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "etag.h"
#include "shm.h"

struct worker;
struct backend;
struct route;

#define HTTP_MAX_PARAMS 4
#define HTTP_MAX_HEADERS 12
#define HTTP_GZIP_MIN 1024     /* bytes: smaller bodies go out uncompressed */
#define HTTP_REQUEST_ID_MAX 64 /* bytes of an X-Request-Id (EDGE_REQUEST_ID_MAX) */

enum http_method {
	HTTP_GET = 1 << 0,
	HTTP_HEAD = 1 << 1,
	HTTP_POST = 1 << 2,
	HTTP_PUT = 1 << 3,
	HTTP_PATCH = 1 << 4,
	HTTP_DELETE = 1 << 5,
	HTTP_OPTIONS = 1 << 6,
	HTTP_OTHER = 1 << 7
};

struct http_header {
	const char *name; /* a lower-case string literal */
	char *value;	  /* owned by the response, unless borrowed */
	int borrowed;	  /* value is a string literal (http_response_header_static) */
};

/* A response built off the loop thread; owned by whoever holds it, freed by http_response_free. */
struct http_response {
	int status;
	const char *content_type; /* static string */
	struct buf body;
	/* instead of body: bytes that stay valid until http_respond returns (copied there once) */
	const char *body_ref;
	size_t body_ref_len;
	struct http_header headers[HTTP_MAX_HEADERS];
	int nheaders;
};

struct http_param {
	const char *name; /* from the route pattern */
	char value[128];
};

/* What bounds a deferred request's wait (issue 8): its route class deadline (answered 504), or
 * the shorter read or write budget (config read_budget_ms, write_budget_ms; answered 503 with
 * Retry-After). Set before deferring. */
enum http_budget { HTTP_BUDGET_ROUTE = 0, HTTP_BUDGET_READ, HTTP_BUDGET_WRITE };

struct auth_principal;

struct http_req {
	void *engine; /* the h2o_req_t; NULL once the request is gone */
	struct worker *worker;
	const struct route *route;
	enum http_method method;
	char path[1024];   /* decoded path, no query */
	const char *query; /* raw query string after '?', or "" (points into the request) */
	size_t query_len;
	const char *body; /* request body, NULL if none (points into the request) */
	size_t body_len;
	struct http_param params[HTTP_MAX_PARAMS];
	int nparams;
	struct http_job *job;		/* the deferred work, if any */
	struct http_job *follows;	/* the work whose answer this request waits for */
	struct http_req *next_follower; /* in that work's list of followers */
	enum http_budget budget;
	struct http_stream *stream; /* the streamed answer being produced, if any */
	/* X-Request-Id: the client's when well formed (edge_request_id_ok), else made here; sent
	 * on every answer, in the access log, the slow logs and a problem's `instance` */
	char request_id[HTTP_REQUEST_ID_MAX + 1];
	/* the caller the rate limit verified (in the request's pool), so the handler does not
	 * look the token up again (api_authenticate_or_answer); NULL when none was */
	struct auth_principal *verified;
};

/* Work done on a backend thread: fill `res` (status 0 means 500). */
typedef void (*http_work_fn)(struct backend *b, void *arg, struct http_response *res);

void http_response_init(struct http_response *res);
void http_response_free(struct http_response *res);
/* Adds a header; name must be a lower-case string literal, value is copied. */
void http_response_header(struct http_response *res, const char *name, const char *value);
/* The same with a value that is a string literal too: nothing is copied. */
void http_response_header_static(struct http_response *res, const char *name, const char *value);
/* Fills res with a problem+json body (RFC 9457): type, title, status, detail, and when errs
 * is given an `errors` array of {field, message}. http_respond adds `instance`,
 * "urn:request:<X-Request-Id>" (RFC 9457 §3.1.5: a URI of this occurrence, issue 10). */
struct validate_errors;
void http_response_problem(struct http_response *res, int status, const char *detail);
void http_response_problem_errors(struct http_response *res, int status, const char *detail,
				  const struct validate_errors *errs);
/* Takes over the body: res->body holds JSON of the given status. */
void http_response_json(struct http_response *res, int status, struct buf *body);

/* Answers now, on the loop thread. The response is consumed. */
void http_respond(struct http_req *r, struct http_response *res);
void http_respond_json(struct http_req *r, int status, struct buf *body);
void http_respond_problem(struct http_req *r, int status, const char *detail);

/*
 * Runs work(backend, arg) on a backend thread of the route's queue and answers with what it
 * fills. `arg` is owned by the job and released with free_arg (may be NULL) on the loop
 * thread, whether or not the request is still alive. Answers 503 itself if the queue is full.
 */
void http_defer(struct http_req *r, http_work_fn work, void *arg, void (*free_arg)(void *));

/* Runs on the loop thread when the work is back, before the answer is sent; r is NULL when
 * the request is gone (or was answered at its deadline). It may change res. It also runs when
 * a request waiting for the work (its owner or a follower) reaches its deadline: then r is
 * that request, res the 504 or 503 problem it is about to get, and the work may still be
 * running on a backend thread, so done may read only what the work no longer writes. */
typedef void (*http_done_fn)(struct http_req *r, void *arg, struct http_response *res);
/*
 * Two stages: first runs on the worker's cache threads (quick work: Redis), and when it leaves
 * res->status at 0, then runs on the route's threads (MongoDB). A cache lookup therefore never
 * waits behind slow database work. Without cache threads both run on the route's threads.
 */
void http_defer_staged(struct http_req *r, http_work_fn first, http_work_fn then, void *arg,
		       void (*free_arg)(void *), http_done_fn done);
/*
 * r waits for the answer of job (r2->job of a request deferred earlier) instead of doing the
 * same work again, and gets a copy of it (or the same 504). Returns 0, or -1 when job can no
 * longer take followers (its deadline passed): then r must do its own work.
 */
int http_follow(struct http_req *r, struct http_job *job);
/* http_defer with a done step (the read cache fills worker memory there). */
void http_defer_done(struct http_req *r, http_work_fn work, void *arg, void (*free_arg)(void *),
		     http_done_fn done);

/*
 * Work nobody waits for (issue 8: a refresh before expiry, cache warming): first on the
 * worker's cache threads, then (when it leaves res->status at 0) on the slow threads, the
 * background class. done runs with r NULL and nothing is sent. Returns the job (others cannot
 * follow it), or NULL when a queue was full: then arg was released with free_arg.
 */
struct http_job *http_defer_background(struct worker *w, http_work_fn first, http_work_fn then,
				       void *arg, void (*free_arg)(void *), http_done_fn done);

/* The ms r may wait for deferred work: its route class deadline, or the budget r->budget
 * names when that is shorter (issue 8). */
int http_deadline_ms(const struct http_req *r);

/*
 * Streamed answers (exports): the body leaves in batches while a backend thread produces it,
 * so memory stays bounded whatever its size. On HTTP/1.1 it goes out chunked; gzip applies
 * when the client accepts it (h2o's filter compresses each batch as it passes).
 *
 * The work runs on the route's backend threads. It first calls http_stream_head: a 200 head
 * (type and headers, no body) starts the stream; any other status is a whole answer (an
 * error body) and ends it. Then it appends bytes to http_stream_buf and hands each batch to
 * the loop with http_stream_flush, which blocks until the loop has sent the previous batch
 * (back-pressure: at most three batches exist at a time: one being filled, one handed over,
 * one being written). When the work returns, what is left in the buffer goes out last.
 *
 * Until the head goes out the route class deadline answers 504 as for any deferred work;
 * after that the work keeps its own deadline (flush waits no longer than deadline_ms). When
 * the client goes away (h2o stops the generator), the deadline passes, or the worker stops,
 * the stream is cancelled: flush returns -1 and the work must stop and return.
 */
struct http_stream;
typedef void (*http_stream_fn)(struct backend *b, void *arg, struct http_stream *s);
/* Loop thread: runs work(backend, arg, stream) on a thread of the route's queue; arg is
 * released with free_arg on the loop thread once both sides are done. 503 when the queue is
 * full. */
void http_stream_defer(struct http_req *r, http_stream_fn work, void *arg,
		       void (*free_arg)(void *));
/* Backend thread: hands over the head (res is consumed). 0, or -1 when nobody listens. */
int http_stream_head(struct http_stream *s, struct http_response *res);
/* Backend thread: the batch being filled (owned by the stream). */
struct buf *http_stream_buf(struct http_stream *s);
/*
 * Backend thread: hands the filled batch to the loop once the previous one was sent, waiting
 * until deadline_ms (clock_mono_ms) at most. 0; -1 when the stream was cancelled (client
 * gone, worker stopping); -2 when the deadline passed first.
 */
int http_stream_flush(struct http_stream *s, uint64_t deadline_ms);
/* Backend thread: the body is incomplete (deadline, database error after the head): the
 * client sees a broken stream (HTTP/1.1: no last chunk and the connection closes; HTTP/2:
 * RST_STREAM), never a body that looks whole. */
void http_stream_abort(struct http_stream *s);

/* Request data. */
const char *http_param(const struct http_req *r, const char *name);
/* Value of a request header (name in lower case) and its length, or NULL. */
const char *http_header(const struct http_req *r, const char *name, size_t *len);
/* How many fields named name (lower case) the request carries (RFC 9110 §5.3: a field sent
 * twice where only one may be). */
int http_header_count(const struct http_req *r, const char *name);

const char *http_status_reason(int status);

const char *http_method_name(enum http_method m);
enum http_method http_method_parse(const char *s, size_t len);

/*
 * The server of one process (worker.c drives it). Its SSL_CTX is shared, made before fork.
 */
#include <openssl/ssl.h>
struct http_server;
struct config;
/* Builds the h2o configuration, context and loop; sets w->http. NULL or err set on failure
 * (a non-NULL server with err set must still be freed). */
struct http_server *http_server_new(struct worker *w, SSL_CTX *ssl, char *err, size_t errlen);
int http_server_listen(struct http_server *s, int fd, int tls, char *err, size_t errlen);
/* Cancels every stream still in flight (their work stops at its next flush); call before the
 * backend pools are joined. */
void http_stream_cancel_all(struct http_server *s);
/* Closes the listeners and asks keep-alive connections to close after their request. */
void http_server_stop_accepting(struct http_server *s);
/* Runs the loop once, waiting at most max_wait_ms; -1 on a fatal loop error. */
int http_server_run(struct http_server *s, int max_wait_ms);
size_t http_server_inflight(const struct http_server *s);
/* Accepted connections still open, those in their TLS handshake included (the drain waits
 * for them: worker_drain). */
size_t http_server_connections(const struct http_server *s);
/* Flushes the access log and collects finished jobs before the process exits. The h2o state
 * itself lives until exit: the caller must exit while still holding s. */
void http_server_free(struct http_server *s);

#endif
