/*
 * http.c: the HTTP engine of a serving process, on h2o 2.2.5's evloop (see http.h).
 *
 * One h2o handler at "/" hands every request to the route table; one h2o logger at "/" sees
 * every finished request (ours and those h2o answered itself, such as a 413), and records its
 * latency and status in the shared region and the access log. Building a struct http_response
 * (any thread) is http_response.c's; sending one on the loop thread is here (http_respond).
 */
#include "http.h"
#include "http_int.h"

#if H2O_USE_LIBUV
#error "build with -DH2O_USE_LIBUV=0: enterprised uses h2o's evloop"
#endif

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <h2o.h>
#include <openssl/err.h>

#include "accesslog.h"
#include "backend.h"
#include "clock.h"
#include "edge.h"
#include "json.h"
#include "log.h"
#include "router.h"
#include "validate.h"
#include "worker.h"

#define HTTP_ACCESSLOG_FLUSH 16384

_Static_assert(HTTP_REQUEST_ID_MAX == EDGE_REQUEST_ID_MAX, "a well-formed X-Request-Id must fit");

struct http_handler {
	h2o_handler_t super;
	struct http_server *server;
};

struct http_logger {
	h2o_logger_t super;
	struct http_server *server;
};

/* --- status and method names --- */

const char *
http_status_reason(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 201:
		return "Created";
	case 204:
		return "No Content";
	case 304:
		return "Not Modified";
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 406:
		return "Not Acceptable";
	case 409:
		return "Conflict";
	case 412:
		return "Precondition Failed";
	case 413:
		return "Content Too Large";
	case 415:
		return "Unsupported Media Type";
	case 422:
		return "Unprocessable Content";
	case 429:
		return "Too Many Requests";
	case 500:
		return "Internal Server Error";
	case 502:
		return "Bad Gateway";
	case 503:
		return "Service Unavailable";
	case 504:
		return "Gateway Timeout";
	default:
		return status < 400 ? "OK" : status < 500 ? "Bad Request" : "Internal Server Error";
	}
}

const char *
http_method_name(enum http_method m)
{
	switch (m) {
	case HTTP_GET:
		return "GET";
	case HTTP_HEAD:
		return "HEAD";
	case HTTP_POST:
		return "POST";
	case HTTP_PUT:
		return "PUT";
	case HTTP_PATCH:
		return "PATCH";
	case HTTP_DELETE:
		return "DELETE";
	case HTTP_OPTIONS:
		return "OPTIONS";
	default:
		return "OTHER";
	}
}

enum http_method
http_method_parse(const char *s, size_t len)
{
	static const enum http_method all[] = {HTTP_GET,   HTTP_HEAD,	HTTP_POST,   HTTP_PUT,
					       HTTP_PATCH, HTTP_DELETE, HTTP_OPTIONS};
	size_t i;
	const char *name;

	for (i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		name = http_method_name(all[i]);
		if (strlen(name) == len && memcmp(name, s, len) == 0)
			return all[i];
	}
	return HTTP_OTHER;
}

/* --- answering on the loop thread --- */

/* 1 when h2o's gzip filter will compress this answer (the conditions of its on_setup_ostream
 * with our settings: HTTP/1.1 or later, 200, not HEAD, JSON of HTTP_GZIP_MIN bytes or more,
 * and an Accept-Encoding that http_accept_encoding turned into "gzip"). */
static int
http_will_gzip(const struct http_req *r, const struct http_response *res, size_t body_len)
{
	h2o_req_t *req = r->engine;
	const char *ae;
	size_t len = 0;

	if (req == NULL || req->version < 0x101 || res->status != 200 || r->method == HTTP_HEAD ||
	    body_len < HTTP_GZIP_MIN || res->content_type == NULL ||
	    strcmp(res->content_type, "application/json") != 0)
		return 0;
	ae = http_header(r, "accept-encoding", &len);
	return ae != NULL && len == 4 && memcmp(ae, "gzip", 4) == 0;
}

/*
 * The ETag of a 200 or 201 answer with a record's JSON (RFC 9110 8.8.3): a strong tag of the
 * identity body, "<xxh3>", which is what If-Match compares against; when the body goes out
 * gzip-compressed, its own tag "<xxh3>-gzip" (another representation, another strong tag).
 * GET and HEAD get revalidation headers too, and a matching If-None-Match turns the answer
 * into a 304 (returns 1). Writes (POST, PUT, PATCH, DELETE) carry the new tag so a client can
 * chain them without a GET.
 */
static int
http_respond_etag(struct http_req *r, struct http_response *res)
{
	char etag[ETAG_MAX], variant[ETAG_MAX + 8];
	const char *tag, *inm, *body = res->body_ref != NULL ? res->body_ref : res->body.data;
	size_t len = res->body_ref != NULL ? res->body_ref_len : res->body.len, inm_len = 0;
	int get = r->method == HTTP_GET || r->method == HTTP_HEAD, i;

	if (get ? (res->status != 200 || !r->worker->record)
		: ((res->status != 200 && res->status != 201) || res->content_type == NULL ||
		   strcmp(res->content_type, "application/json") != 0 || r->method == HTTP_OTHER ||
		   r->method == HTTP_OPTIONS))
		return 0;
	if ((tag = http_response_find(res, "etag")) == NULL) {
		etag_of(body != NULL ? body : "", len, etag);
		http_response_header(res, "etag", etag);
		tag = http_response_find(res, "etag");
	}
	if (http_will_gzip(r, res, len) && tag[0] == '"' && strlen(tag) >= 2) {
		snprintf(variant, sizeof(variant), "%.*s-gzip\"", (int)strlen(tag) - 1, tag);
		for (i = 0; i < res->nheaders; i++) {
			if (strcmp(res->headers[i].name, "etag") != 0)
				continue;
			if (!res->headers[i].borrowed)
				free(res->headers[i].value);
			if ((res->headers[i].value = strdup(variant)) == NULL)
				abort();
			res->headers[i].borrowed = 0;
		}
	}
	if (!get)
		return 0;
	if (http_response_find(res, "cache-control") == NULL)
		http_response_header_static(res, "cache-control",
					    "private, max-age=0, must-revalidate");
	http_response_header_static(res, "vary", "Accept-Encoding");
	tag = http_response_find(res, "etag");
	inm = http_header(r, "if-none-match", &inm_len);
	return inm != NULL && etag_matches(inm, inm_len, tag);
}

/* Status, content type and res's headers onto the engine's response. */
void
http_respond_head(h2o_req_t *req, int status, const struct http_response *res)
{
	int i;

	req->res.status = status;
	req->res.reason = http_status_reason(status);
	if (res->content_type != NULL)
		h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
			       res->content_type, strlen(res->content_type));
	/* names are literals and borrowed values too: h2o may keep them until the stream ends */
	for (i = 0; i < res->nheaders; i++) {
		const struct http_header *h = &res->headers[i];
		h2o_iovec_t v = h->borrowed ? h2o_iovec_init(h->value, strlen(h->value))
					    : h2o_strdup(&req->pool, h->value, SIZE_MAX);

		h2o_add_header_by_str(&req->pool, &req->res.headers, h->name, strlen(h->name), 1,
				      NULL, v.base, v.len);
	}
}

void
http_respond(struct http_req *r, struct http_response *res)
{
	static h2o_generator_t generator = {NULL, NULL};
	h2o_req_t *req = r->engine;
	h2o_iovec_t body;
	int status = res->status ? res->status : 500, not_modified;

	h2o_timeout_unlink(HTTP_DEADLINE_OF(r)); /* answered: no 504 any more */
	h2o_timeout_unlink(HTTP_CUTOFF_OF(r));
	if (req == NULL) { /* gone: nobody to answer */
		http_response_free(res);
		return;
	}
	if (res->status == 0)
		http_response_problem(res, 500, "the request failed on the server");
	http_response_add_instance(res, r->request_id);
	/* RFC 9211: every answer says what the cache did; answers that never asked it bypass it */
	if (http_response_find(res, "cache-status") == NULL && res->nheaders < HTTP_MAX_HEADERS)
		http_response_header_static(res, "cache-status", "enterprised; fwd=bypass");
	if ((not_modified = http_respond_etag(r, res)) != 0) {
		status = 304;
		res->content_type = NULL;
	}
	http_respond_head(req, status, res);
	if (not_modified) {
		http_response_free(res);
		r->engine = NULL;
		h2o_start_response(req, &generator);
		h2o_send(req, NULL, 0, H2O_SEND_STATE_FINAL);
		return;
	}
	if (res->body_ref != NULL)
		body = h2o_strdup(&req->pool, res->body_ref, res->body_ref_len);
	else
		body = h2o_strdup(&req->pool, res->body.data != NULL ? res->body.data : "",
				  res->body.len);
	http_response_free(res);
	/* an unset length makes the gzip filter treat every body as large */
	req->res.content_length = body.len;
	r->engine = NULL; /* answered: nothing may touch the request after h2o_send */
	h2o_start_response(req, &generator);
	/* h2o leaves HEAD to the handler: the length of the body, none of its bytes */
	h2o_send(req, &body, r->method == HTTP_HEAD ? 0 : 1, H2O_SEND_STATE_FINAL);
}

void
http_respond_json(struct http_req *r, int status, struct buf *body)
{
	struct http_response res;

	http_response_init(&res);
	http_response_json(&res, status, body);
	http_respond(r, &res);
}

void
http_respond_problem(struct http_req *r, int status, const char *detail)
{
	struct http_response res;

	http_response_init(&res);
	http_response_problem(&res, status, detail);
	http_respond(r, &res);
}

/* --- request data --- */

const char *
http_param(const struct http_req *r, const char *name)
{
	int i;

	for (i = 0; i < r->nparams; i++) {
		if (strcmp(r->params[i].name, name) == 0)
			return r->params[i].value;
	}
	return NULL;
}

const char *
http_header(const struct http_req *r, const char *name, size_t *len)
{
	h2o_req_t *req = r->engine;
	ssize_t i;

	if (req == NULL)
		return NULL;
	i = h2o_find_header_by_str(&req->headers, name, strlen(name), -1);
	if (i < 0)
		return NULL;
	*len = req->headers.entries[i].value.len;
	return req->headers.entries[i].value.base;
}

int
http_header_count(const struct http_req *r, const char *name)
{
	h2o_req_t *req = r->engine;
	ssize_t i = -1;
	int n = 0;

	if (req == NULL)
		return 0;
	while ((i = h2o_find_header_by_str(&req->headers, name, strlen(name), i)) >= 0)
		n++;
	return n;
}

/* --- the handler --- */

/* Counts a request in or out of this server, and of its worker's slot in the shared region
 * (shm_worker.inflight: the dashboard's requests in flight, summed by the monitor). */
static void
http_inflight_add(struct http_server *s, struct worker *w, int delta)
{
	s->inflight += delta;
	if (w->slot >= 0 && w->slot < SHM_MAX_WORKERS)
		atomic_fetch_add_explicit(&w->shm->workers[w->slot].inflight, delta,
					  memory_order_relaxed);
}

static void
http_req_dispose(void *p)
{
	struct http_req *r = p;
	struct http_server *s = r->worker->http;

	http_job_req_dispose(r);
	http_inflight_add(s, r->worker, -1);
}

/*
 * The framing fault of an HTTP/1 request, or NULL (RFC 9112 §6.3; edge_framing_check). h2o
 * keeps Content-Length and Transfer-Encoding out of req->headers and keeps only the first
 * Content-Length, so the check reads the header section as received: until the answer is
 * sent, the request's bytes are still at the start of the connection's (decrypted) input.
 */
static const char *
http_framing_fault(h2o_req_t *req)
{
	h2o_socket_t *sock;
	const char *why = NULL;
	size_t i;

	if (req->version >= 0x200)
		return NULL; /* HTTP/2 frames bodies itself */
	/* obs-fold lines reach us as header fields with an empty name */
	for (i = 0; i < req->headers.size; i++)
		if (req->headers.entries[i].name->len == 0)
			return "obsolete line folding (a header line starting with whitespace)";
	if (req->conn->callbacks->get_socket == NULL ||
	    (sock = req->conn->callbacks->get_socket(req->conn)) == NULL || sock->input == NULL)
		return NULL;
	if (edge_framing_check(sock->input->bytes, sock->input->size, &why) != 0)
		return why;
	return NULL;
}

/*
 * h2o's gzip filter only knows a bare "gzip" member and ignores any member with a parameter
 * (even "gzip;q=1.0"). The client's list is read here by RFC 9110 §12.5.3 and the field is
 * rewritten to what the filter understands: "gzip" when gzip is acceptable, else "identity".
 */
static void
http_accept_encoding(h2o_req_t *req)
{
	ssize_t i = -1, first = -1;
	h2o_iovec_t all = {NULL, 0};

	while ((i = h2o_find_header(&req->headers, H2O_TOKEN_ACCEPT_ENCODING, i)) != -1) {
		h2o_iovec_t v = req->headers.entries[i].value;

		if (first == -1) {
			first = i;
			all = v;
		} else { /* several field lines are one comma-separated list (RFC 9110 §5.3) */
			all = h2o_concat(&req->pool, all, h2o_iovec_init(H2O_STRLIT(", ")), v);
			req->headers.entries[i].value = h2o_iovec_init(H2O_STRLIT("identity"));
		}
	}
	if (first == -1)
		return;
	req->headers.entries[first].value = edge_accepts_gzip(all.base, all.len)
						? h2o_iovec_init(H2O_STRLIT("gzip"))
						: h2o_iovec_init(H2O_STRLIT("identity"));
}

/*
 * The request's id (issue 10): the client's X-Request-Id when well formed (edge_request_id_ok;
 * the first field line if there are several), else one made here: this process's random
 * 64-bit prefix and its count of ids made, 32 hex digits, unique without a syscall per
 * request. Written into id and sent back on the answer (every status, 304 included); kept in
 * the response's headers, where the logger and the problem filter find it.
 */
static void
http_request_id(struct http_server *s, h2o_req_t *req, char id[HTTP_REQUEST_ID_MAX + 1])
{
	ssize_t i = h2o_find_header_by_str(&req->res.headers, H2O_STRLIT("x-request-id"), -1);
	h2o_iovec_t v;

	if (i >= 0) { /* already chosen (the problem filter after our handler) */
		v = req->res.headers.entries[i].value;
		snprintf(id, HTTP_REQUEST_ID_MAX + 1, "%.*s", (int)v.len, v.base);
		return;
	}
	i = h2o_find_header_by_str(&req->headers, H2O_STRLIT("x-request-id"), -1);
	if (i >= 0 && edge_request_id_ok(req->headers.entries[i].value.base,
					 req->headers.entries[i].value.len)) {
		v = req->headers.entries[i].value;
		snprintf(id, HTTP_REQUEST_ID_MAX + 1, "%.*s", (int)v.len, v.base);
	} else {
		snprintf(id, HTTP_REQUEST_ID_MAX + 1, "%016" PRIx64 "%016" PRIx64, s->rid_prefix,
			 ++s->rid_count);
	}
	v = h2o_strdup(&req->pool, id, SIZE_MAX);
	h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-request-id"), 0, NULL,
			      v.base, v.len);
}

static int
http_on_req(h2o_handler_t *self, h2o_req_t *req)
{
	struct http_server *s = ((struct http_handler *)self)->server;
	struct worker *w = s->worker;
	struct http_req *r;
	enum router_result rr;
	char allow[128], detail[512];
	const char *why = NULL;
	size_t plen;

	r = h2o_mem_alloc_shared(&req->pool, sizeof(struct http_req_ext), http_req_dispose);
	memset(r, 0, sizeof(struct http_req_ext));
	http_job_req_init(r);
	r->engine = req;
	r->worker = w;
	http_inflight_add(s, w, 1);
	http_request_id(s, req, r->request_id);

	r->method = http_method_parse(req->method.base, req->method.len);
	if ((why = http_framing_fault(req)) != NULL) {
		snprintf(detail, sizeof(detail), "the request's framing is ambiguous: %s", why);
		req->http1_is_persistent = 0; /* RFC 9112 §6.3: close after answering */
		http_respond_problem(r, 400, detail);
		return 0;
	}
	http_accept_encoding(req);
	plen = req->query_at != SIZE_MAX ? req->query_at : req->path.len;
	switch (edge_path_decode(req->path.base, plen, r->path, sizeof(r->path), &why)) {
	case -2:
		http_respond_problem(r, 414, "the request path is too long");
		return 0;
	case -1:
		http_respond_problem(r, 400, why);
		return 0;
	default:
		break;
	}
	if (req->query_at != SIZE_MAX) {
		r->query = req->path.base + req->query_at + 1;
		r->query_len = req->path.len - req->query_at - 1;
	} else {
		r->query = "";
		r->query_len = 0;
	}
	if (req->entity.base != NULL) {
		r->body = req->entity.base;
		r->body_len = req->entity.len;
		/* h2o's own cap is set above ours (see worker.c), so this answer is ours */
		if (r->body_len > w->conf->http_body_max) {
			snprintf(detail, sizeof(detail),
				 "the request body is larger than the limit of %zu bytes",
				 w->conf->http_body_max);
			http_respond_problem(r, 413, detail);
			return 0;
		}
	}

	rr = router_match(w->routes, r->method, r->path, w->conf->debug_routes, &r->route,
			  r->params, &r->nparams, allow, sizeof(allow));
	switch (rr) {
	case ROUTER_FOUND:
		if (http_ratelimit_or_answer(r) == 0)
			r->route->handler(r);
		break;
	case ROUTER_METHOD_NOT_ALLOWED: {
		struct http_response res;

		http_response_init(&res);
		snprintf(detail, sizeof(detail), "%s is not allowed on %.200s; allowed: %s",
			 http_method_name(r->method), r->path, allow);
		http_response_problem(&res, 405, detail);
		http_response_header(&res, "allow", allow);
		http_respond(r, &res);
		break;
	}
	default:
		snprintf(detail, sizeof(detail), "no resource at %.200s", r->path);
		http_respond_problem(r, 404, detail);
		break;
	}
	return 0;
}

/* --- after each request: metrics and access log --- */

static uint64_t
http_elapsed_us(const struct timeval *start)
{
	struct timeval now;
	int64_t us;

	if (start->tv_sec == 0)
		return 0;
	gettimeofday(&now, NULL);
	us = (int64_t)(now.tv_sec - start->tv_sec) * 1000000 + (now.tv_usec - start->tv_usec);
	return us > 0 ? (uint64_t)us : 0;
}

static void
http_accesslog_flush(struct http_server *s)
{
	size_t off = 0;
	ssize_t n;

	while (off < s->accesslog.len) {
		n = write(s->accesslog_fd, s->accesslog.data + off, s->accesslog.len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			log_warn("accesslog: write: %s", strerror(errno));
			break;
		}
		off += (size_t)n;
	}
	buf_reset(&s->accesslog);
}

static void
http_on_tick(h2o_timeout_entry_t *entry)
{
	struct http_server *s = H2O_STRUCT_FROM_MEMBER(struct http_server, tick_entry, entry);

	if (s->accesslog_fd >= 0 && s->accesslog.len > 0)
		http_accesslog_flush(s);
	h2o_timeout_link(s->ctx.loop, &s->tick, &s->tick_entry);
}

static void
http_log_access(h2o_logger_t *self, h2o_req_t *req)
{
	struct http_server *s = ((struct http_logger *)self)->server;
	struct worker *w = s->worker;
	uint64_t us = http_elapsed_us(&req->timestamps.request_begin_at);
	int status = req->res.status;
	char path[1024], peer[INET6_ADDRSTRLEN] = "-";
	size_t plen = req->path_normalized.len < sizeof(path) - 1 ? req->path_normalized.len
								  : sizeof(path) - 1;
	enum shm_route_class cls;
	struct sockaddr_storage ss;
	socklen_t sl;
	char ts[32], rid[HTTP_REQUEST_ID_MAX + 1] = "";
	time_t now;
	struct tm tm;
	struct accesslog_entry e;
	ssize_t ri = h2o_find_header_by_str(&req->res.headers, H2O_STRLIT("x-request-id"), -1);

	memcpy(path, req->path_normalized.base, plen);
	path[plen] = '\0';
	if (ri >= 0)
		snprintf(rid, sizeof(rid), "%.*s", (int)req->res.headers.entries[ri].value.len,
			 req->res.headers.entries[ri].value.base);
	cls =
	    router_class_of(w->routes, http_method_parse(req->method.base, req->method.len), path);
	if (w->record)
		shm_record_request(w->shm, cls, status, us);
	if (w->slot >= 0 && w->slot < SHM_MAX_WORKERS)
		atomic_fetch_add_explicit(&w->shm->workers[w->slot].requests, 1,
					  memory_order_relaxed);

	if (w->conf->monitoring_enabled && w->record &&
	    us / 1000 >= (uint64_t)w->conf->monitoring_slow_threshold_ms) {
		struct buf b;
		struct json j;

		buf_init(&b);
		json_init(&j, &b);
		json_object_begin(&j);
		json_kv_string(&j, "message", "Slow request");
		json_key(&j, "method");
		json_string_len(&j, req->method.base, req->method.len);
		json_kv_string(&j, "path", path);
		json_kv_int(&j, "status", status);
		json_kv_double(&j, "durationMs", (double)us / 1000.0, 3);
		json_kv_string(&j, "routeClass", shm_class_name(cls));
		json_kv_int(&j, "worker", w->index);
		if (rid[0] != '\0')
			json_kv_string(&j, "requestId", rid);
		json_object_end(&j);
		log_json(b.data);
		buf_free(&b);
	}

	if (s->accesslog_fd < 0)
		return;
	sl = sizeof(ss);
	if (req->conn->callbacks->get_peername != NULL &&
	    (sl = req->conn->callbacks->get_peername(req->conn, (struct sockaddr *)&ss)) != 0) {
		if (ss.ss_family == AF_INET)
			inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, peer,
				  sizeof(peer));
		else if (ss.ss_family == AF_INET6)
			inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, peer,
				  sizeof(peer));
	}
	now = time(NULL);
	gmtime_r(&now, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
	e.time = ts;
	e.peer = peer;
	e.method = req->method.base;
	e.method_len = req->method.len;
	e.path = path;
	e.path_len = plen;
	e.status = status;
	e.bytes = req->bytes_sent;
	e.us = us;
	e.worker = w->index;
	e.request_id = rid;
	accesslog_append(&s->accesslog, w->conf->accesslog_json, &e);
	if (s->accesslog.len >= HTTP_ACCESSLOG_FLUSH)
		http_accesslog_flush(s);
}

/* --- errors h2o answers itself --- */

/*
 * h2o answers some errors before any handler runs (a body far over the limit, a malformed
 * request) with a text/plain body. This filter turns every such answer into problem+json,
 * so a client sees one error format whatever refused it.
 */
struct http_filter {
	h2o_filter_t super;
	struct http_server *server;
};

struct http_problem_ostream {
	h2o_ostream_t super;
	h2o_iovec_t body; /* sent in place of the engine's first chunk; NULL once sent */
};

static void
http_problem_do_send(h2o_ostream_t *self, h2o_req_t *req, h2o_iovec_t *bufs, size_t bufcnt,
		     h2o_send_state_t state)
{
	struct http_problem_ostream *o = (struct http_problem_ostream *)self;
	h2o_iovec_t body = o->body;

	(void)bufs;
	(void)bufcnt;
	o->body = h2o_iovec_init(NULL, 0);
	h2o_ostream_send_next(self, req, body.base != NULL ? &body : NULL, body.base != NULL,
			      state);
}

static void
http_problem_on_setup(h2o_filter_t *self, h2o_req_t *req, h2o_ostream_t **slot)
{
	ssize_t ct = h2o_find_header(&req->res.headers, H2O_TOKEN_CONTENT_TYPE, -1);
	struct http_response res;
	struct http_problem_ostream *o;
	char detail[160], id[HTTP_REQUEST_ID_MAX + 1];

	/* every answer carries the id; one h2o made before our handler ran gets it here */
	http_request_id(((struct http_filter *)self)->server, req, id);

	if (req->res.status >= 400 && (ct < 0 || (req->res.headers.entries[ct].value.len >= 10 &&
						  h2o_memis(req->res.headers.entries[ct].value.base,
							    10, H2O_STRLIT("text/plain"))))) {
		if (req->res.status == 413)
			snprintf(detail, sizeof(detail),
				 "the request body is larger than the limit of %zu bytes",
				 ((struct http_filter *)self)->server->worker->conf->http_body_max);
		else
			snprintf(detail, sizeof(detail), "%s",
				 req->res.reason != NULL ? req->res.reason
							 : "the request was refused");
		http_response_init(&res);
		http_response_problem(&res, req->res.status, detail);
		http_response_add_instance(&res, id);
		if (ct >= 0)
			h2o_delete_header(&req->res.headers, ct);
		h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
			       H2O_STRLIT("application/problem+json"));
		o = (struct http_problem_ostream *)h2o_add_ostream(req, sizeof(*o), slot);
		o->super.do_send = http_problem_do_send;
		o->body = h2o_strdup(&req->pool, res.body.data, res.body.len);
		req->res.content_length = o->body.len;
		http_response_free(&res);
		slot = &o->super.next;
	}
	h2o_setup_next_ostream(req, slot);
}

/* --- server --- */

static int
http_count_conns(h2o_linklist_t *anchor)
{
	h2o_linklist_t *n;
	int count = 0;

	for (n = anchor->next; n != anchor; n = n->next)
		count++;
	return count;
}

/* h2o calls this when it disposes an accepted socket, whatever closed it */
static void
http_on_conn_close(void *data)
{
	struct http_server *s = data;

	s->open--;
}

static void
http_on_accept(h2o_socket_t *listener, const char *err)
{
	struct http_listener *l = listener->data;
	struct http_server *s = l->server;
	h2o_socket_t *sock;
	int open;

	if (err != NULL)
		return;
	/* accept a bounded batch so one listener cannot monopolize the loop */
	for (int i = 0; i < 16; i++) {
		if ((sock = h2o_evloop_socket_accept(listener)) == NULL)
			return;
		open =
		    http_count_conns(&s->ctx.http1._conns) + http_count_conns(&s->ctx.http2._conns);
		if (open >= s->worker->conf->worker_max_connections) {
			h2o_socket_close(sock);
			continue;
		}
		s->open++;
		sock->on_close.cb = http_on_conn_close;
		sock->on_close.data = s;
		h2o_accept(l->tls ? &s->accept_tls : &s->accept_plain, sock);
	}
}

struct http_server *
http_server_new(struct worker *w, SSL_CTX *ssl, char *err, size_t errlen)
{
	const struct config *c = w->conf;
	struct http_server *s;
	h2o_hostconf_t *host;
	h2o_pathconf_t *path;
	struct http_handler *handler;
	struct http_logger *logger;
	struct http_filter *filter;
	h2o_compress_args_t compress;

	if ((s = calloc(1, sizeof(*s))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	s->worker = w;
	s->accesslog_fd = -1;
	buf_init(&s->accesslog);
	if (getrandom(&s->rid_prefix, sizeof(s->rid_prefix), 0) != sizeof(s->rid_prefix)) {
		snprintf(err, errlen, "getrandom: %s", strerror(errno));
		free(s);
		return NULL;
	}
	w->http = s;

	h2o_config_init(&s->config);
	/* one byte above our limit, and one more for h2o's off-by-one on chunked bodies, so
	 * the handler sees an over-limit body and answers 413 as problem+json itself */
	s->config.max_request_entity_size = c->http_body_max + 2;
	s->config.handshake_timeout = (uint64_t)c->http_header_timeout * 1000;
	s->config.http1.req_timeout = (uint64_t)c->http_keepalive_time * 1000;
	s->config.http1.upgrade_to_http2 = 0;
	s->config.http2.idle_timeout = (uint64_t)c->http_keepalive_time * 1000;
	s->config.http2.graceful_shutdown_timeout = (uint64_t)c->worker_shutdown_timeout * 1000;
	s->config.server_name = h2o_iovec_init(H2O_STRLIT("enterprised"));

	host = h2o_config_register_host(&s->config, h2o_iovec_init(H2O_STRLIT("default")), 65535);
	path = h2o_config_register_path(host, "/", 0);
	handler = (struct http_handler *)h2o_create_handler(path, sizeof(*handler));
	handler->super.on_req = http_on_req;
	handler->server = s;
	logger = (struct http_logger *)h2o_create_logger(path, sizeof(*logger));
	logger->super.log_access = http_log_access;
	logger->server = s;
	memset(&compress, 0, sizeof(compress));
	compress.min_size = HTTP_GZIP_MIN;
	compress.gzip.quality = 6;
	compress.brotli.quality = -1;
	h2o_compress_register(path, &compress);
	filter = (struct http_filter *)h2o_create_filter(path, sizeof(*filter));
	filter->super.on_setup_ostream = http_problem_on_setup;
	filter->server = s;
	/* h2o binds the errors it raises before routing (a body over its cap) to the host's
	 * fallback path: the same problem filter and the same logger there */
	filter = (struct http_filter *)h2o_create_filter(&host->fallback_path, sizeof(*filter));
	filter->super.on_setup_ostream = http_problem_on_setup;
	filter->server = s;
	logger = (struct http_logger *)h2o_create_logger(&host->fallback_path, sizeof(*logger));
	logger->super.log_access = http_log_access;
	logger->server = s;

	s->loop = h2o_evloop_create();
	h2o_context_init(&s->ctx, s->loop, &s->config);
	s->accept_tls.ctx = &s->ctx;
	s->accept_tls.hosts = s->config.hosts;
	s->accept_tls.ssl_ctx = ssl;
	s->accept_plain.ctx = &s->ctx;
	s->accept_plain.hosts = s->config.hosts;

	s->queue = h2o_multithread_create_queue(s->ctx.loop);
	h2o_multithread_register_receiver(s->queue, &s->receiver, http_job_on_done);
	h2o_multithread_register_receiver(s->queue, &s->stream_receiver, http_stream_on_msgs);
	h2o_linklist_init_anchor(&s->streams);
	http_job_timeouts_init(s, c);
	h2o_timeout_init(s->ctx.loop, &s->tick, 200);
	s->tick_entry.cb = http_on_tick;
	h2o_timeout_link(s->ctx.loop, &s->tick, &s->tick_entry);

	if (c->accesslog[0] != '\0' && w->record) {
		if (strcmp(c->accesslog, "-") == 0) {
			s->accesslog_fd = STDOUT_FILENO;
		} else if ((s->accesslog_fd =
				open(c->accesslog, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
				     0644)) < 0) {
			snprintf(err, errlen, "accesslog %s: %s", c->accesslog, strerror(errno));
			return s; /* caller frees */
		}
	}
	return s;
}

int
http_server_listen(struct http_server *s, int fd, int tls, char *err, size_t errlen)
{
	struct http_listener *l;

	if (s->nlisteners == (int)(sizeof(s->listeners) / sizeof(s->listeners[0]))) {
		snprintf(err, errlen, "too many listeners");
		return -1;
	}
	l = &s->listeners[s->nlisteners++];
	l->server = s;
	l->tls = tls;
	l->sock = h2o_evloop_socket_create(s->ctx.loop, fd, H2O_SOCKET_FLAG_DONT_READ);
	l->sock->data = l;
	h2o_socket_read_start(l->sock, http_on_accept);
	return 0;
}

void
http_server_stop_accepting(struct http_server *s)
{
	int i;

	for (i = 0; i < s->nlisteners; i++) {
		if (s->listeners[i].sock != NULL) {
			h2o_socket_read_stop(s->listeners[i].sock);
			h2o_socket_close(s->listeners[i].sock);
			s->listeners[i].sock = NULL;
		}
	}
	h2o_context_request_shutdown(&s->ctx);
	s->stopping = 1;
}

int
http_server_run(struct http_server *s, int max_wait_ms)
{
	if (h2o_evloop_run(s->ctx.loop, max_wait_ms) != 0 && errno != EINTR) {
		log_error("event loop: %s", strerror(errno));
		return -1;
	}
	return 0;
}

size_t
http_server_inflight(const struct http_server *s)
{
	return s->inflight;
}

size_t
http_server_connections(const struct http_server *s)
{
	return s->open;
}

void
http_server_free(struct http_server *s)
{
	if (s == NULL)
		return;
	if (s->accesslog_fd >= 0) {
		http_accesslog_flush(s);
		if (s->accesslog_fd != STDOUT_FILENO)
			close(s->accesslog_fd);
		s->accesslog_fd = -1;
	}
	buf_free(&s->accesslog);
	/* jobs that finished during the drain come back as messages: free them */
	h2o_evloop_run(s->ctx.loop, 0);
	/*
	 * The h2o context, loop and configuration are not disposed: h2o 2.2.5 asserts when a
	 * context with idle keep-alive connections or pending graceful-shutdown timers is
	 * disposed, and the process exits right after this anyway, from the frame that holds s.
	 */
}
