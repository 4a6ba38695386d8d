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
	/* X-Request-Id: the client's when well formed (edge_request_id_ok), else made here; sent
	 * on every answer, in the access log, the slow logs and a problem's `instance` */
	char request_id[HTTP_REQUEST_ID_MAX + 1];
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
 * the request is gone (or was answered 504). It may change res. */
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

/* Request data. */
const char *http_param(const struct http_req *r, const char *name);
/* Value of a request header (name in lower case) and its length, or NULL. */
const char *http_header(const struct http_req *r, const char *name, size_t *len);

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
/* Closes the listeners and asks keep-alive connections to close after their request. */
void http_server_stop_accepting(struct http_server *s);
/* Runs the loop once, waiting at most max_wait_ms; -1 on a fatal loop error. */
int http_server_run(struct http_server *s, int max_wait_ms);
size_t http_server_inflight(const struct http_server *s);
/* Flushes the access log and collects finished jobs before the process exits. The h2o state
 * itself lives until exit: the caller must exit while still holding s. */
void http_server_free(struct http_server *s);

#endif
