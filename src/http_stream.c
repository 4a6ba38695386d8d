/*
 * http_stream.c: streamed answers of the HTTP engine (see http.h, http_int.h): a backend
 * thread produces the body in batches while the loop thread writes them out.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include <h2o.h>

#include "backend.h"
#include "clock.h"
#include "http_int.h"
#include "worker.h"

/* --- streamed answers (see http.h) --- */

/*
 * A stream is malloc'd and owned by the loop thread, like a job; a backend thread produces
 * its body. The two sides meet under `lock`:
 *	- the backend fills `fill` (its own), and hands it over by swapping it with `pending`
 *	  once `pending` is empty, then posts `msg` (at most one message is ever queued:
 *	  `msg_pending`), so the loop wakes up;
 *	- the loop swaps `pending` with `out` (its own) when h2o has written the previous `out`
 *	  (proceed), sends it, and wakes the backend.
 * So at most three batches exist at a time, whatever the number of rows. The stream is freed
 * once the work returned and its last message was read (`done`, no `msg_pending`) and the
 * request no longer needs it (finished, or gone).
 */
struct http_stream {
	h2o_generator_t gen;
	struct backend_task task;
	h2o_multithread_message_t msg;
	h2o_linklist_t link; /* in the server's streams (loop thread) */
	struct http_server *server;
	http_stream_fn work;
	void *arg;
	void (*free_arg)(void *);
	pthread_mutex_t lock;
	pthread_cond_t cond; /* pending emptied, or cancelled */
	/* under lock */
	struct http_response head;
	int head_ready;
	struct buf pending;
	int msg_pending;
	int done;      /* the work returned: pending holds the last bytes */
	int aborted;   /* the body is incomplete */
	int cancelled; /* nobody listens: the work stops at its next flush */
	/* loop thread only */
	struct http_req *req; /* NULL once finished or gone */
	struct buf out;	      /* being written by h2o */
	int started;	      /* the 200 head went out */
	int inflight;	      /* h2o_send done, proceed not called yet */
	/* backend thread only */
	struct buf fill;
};

static h2o_mime_attributes_t http_stream_mime = {1, H2O_MIME_ATTRIBUTE_PRIORITY_NORMAL};

static void
http_stream_cancel(struct http_stream *st)
{
	pthread_mutex_lock(&st->lock);
	st->cancelled = 1;
	pthread_cond_broadcast(&st->cond);
	pthread_mutex_unlock(&st->lock);
}

/* Loop thread: frees st once neither side needs it. */
static void
http_stream_maybe_free(struct http_stream *st)
{
	int idle;

	if (st->req != NULL || st->inflight)
		return;
	pthread_mutex_lock(&st->lock);
	idle = st->done && !st->msg_pending;
	pthread_mutex_unlock(&st->lock);
	if (!idle)
		return;
	h2o_linklist_unlink(&st->link);
	if (st->free_arg != NULL)
		st->free_arg(st->arg);
	http_response_free(&st->head);
	buf_free(&st->pending);
	buf_free(&st->out);
	buf_free(&st->fill);
	pthread_cond_destroy(&st->cond);
	pthread_mutex_destroy(&st->lock);
	free(st);
}

/* Loop thread: the request no longer takes bytes (gone, deadline, answered). */
void
http_stream_detach(struct http_stream *st)
{
	http_stream_cancel(st);
	if (st->req != NULL)
		st->req->stream = NULL;
	st->req = NULL;
	st->inflight = 0; /* h2o calls proceed no more */
}

/* Loop thread: the request is answered by bytes sent with state; st lets go of it. */
static void
http_stream_finish(struct http_stream *st, h2o_iovec_t *body, size_t n, h2o_send_state_t state)
{
	struct http_req *r = st->req;
	h2o_req_t *req = r->engine;

	http_stream_detach(st);
	r->engine = NULL; /* nothing may touch the request after h2o_send */
	h2o_send(req, body, n, state);
}

/* Loop thread: starts the answer with the head the work handed over. 0 when bytes follow. */
static int
http_stream_start(struct http_stream *st, struct http_response *head)
{
	struct http_req *r = st->req;
	h2o_req_t *req = r->engine;

	if (head->status != 200) { /* a whole answer: an error before the first byte */
		http_stream_detach(st);
		http_respond(r, head);
		return -1;
	}
	h2o_timeout_unlink(HTTP_DEADLINE_OF(r)); /* from now on the work keeps the deadline */
	http_respond_head(req, 200, head);
	http_response_free(head);
	req->res.content_length = SIZE_MAX; /* chunked on HTTP/1.1 */
	/* every export type is text: h2o's map knows text/csv but not application/x-ndjson */
	req->res.mime_attr = &http_stream_mime;
	h2o_start_response(req, &st->gen);
	st->started = 1;
	if (r->method == HTTP_HEAD) { /* the head alone: the work stops at its next flush */
		http_stream_finish(st, NULL, 0, H2O_SEND_STATE_FINAL);
		return -1;
	}
	return 0;
}

/* Loop thread: moves the answer on as far as it can (head, then one batch at a time). */
static void
http_stream_pump(struct http_stream *st)
{
	struct http_response head;
	h2o_iovec_t body;
	int have = 0, final = 0, aborted = 0;

	if (st->req == NULL || st->inflight)
		return;
	pthread_mutex_lock(&st->lock);
	if (!st->started) {
		if (!st->head_ready && !st->done) {
			pthread_mutex_unlock(&st->lock);
			return;
		}
		if (!st->head_ready) /* the work returned without a head */
			http_response_problem(&st->head, 500, "the export failed on the server");
		head = st->head;
		http_response_init(&st->head);
		pthread_mutex_unlock(&st->lock);
		if (http_stream_start(st, &head) != 0)
			return;
		pthread_mutex_lock(&st->lock);
	}
	if (st->pending.len > 0 || st->done) {
		struct buf t = st->out;

		st->out = st->pending;
		st->pending = t;
		buf_reset(&st->pending);
		final = st->done;
		aborted = st->aborted;
		have = 1;
		pthread_cond_broadcast(&st->cond);
	}
	pthread_mutex_unlock(&st->lock);
	if (!have)
		return;
	if (final) {
		/* no proceed follows a final send: the bytes must live as long as the request */
		body = h2o_strdup(&((h2o_req_t *)st->req->engine)->pool,
				  st->out.data != NULL ? st->out.data : "", st->out.len);
		http_stream_finish(st, &body, body.len > 0,
				   aborted ? H2O_SEND_STATE_ERROR : H2O_SEND_STATE_FINAL);
		return;
	}
	body = h2o_iovec_init(st->out.data, st->out.len);
	st->inflight = 1;
	h2o_send(st->req->engine, &body, 1, H2O_SEND_STATE_IN_PROGRESS);
}

static void
http_stream_on_proceed(h2o_generator_t *gen, h2o_req_t *req)
{
	struct http_stream *st = H2O_STRUCT_FROM_MEMBER(struct http_stream, gen, gen);

	(void)req;
	st->inflight = 0;
	http_stream_pump(st);
	http_stream_maybe_free(st);
}

/* h2o: the request is disposed before its last byte (client gone, stream reset). */
static void
http_stream_on_stop(h2o_generator_t *gen, h2o_req_t *req)
{
	struct http_stream *st = H2O_STRUCT_FROM_MEMBER(struct http_stream, gen, gen);

	(void)req;
	if (st->req != NULL)
		st->req->engine = NULL;
	http_stream_detach(st);
	http_stream_maybe_free(st);
}

void
http_stream_on_msgs(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages)
{
	(void)receiver;
	while (!h2o_linklist_is_empty(messages)) {
		h2o_multithread_message_t *m =
		    H2O_STRUCT_FROM_MEMBER(h2o_multithread_message_t, link, messages->next);
		struct http_stream *st = H2O_STRUCT_FROM_MEMBER(struct http_stream, msg, m);

		h2o_linklist_unlink(&m->link);
		pthread_mutex_lock(&st->lock);
		st->msg_pending = 0;
		pthread_mutex_unlock(&st->lock);
		http_stream_pump(st);
		http_stream_maybe_free(st);
	}
}

/* Backend thread, under lock: wakes the loop unless a message is queued already. */
static void
http_stream_notify(struct http_stream *st)
{
	if (st->msg_pending)
		return;
	st->msg_pending = 1;
	h2o_multithread_send_message(&st->server->stream_receiver, &st->msg);
}

static void
http_stream_run(struct backend *b, struct backend_task *t)
{
	struct http_stream *st = H2O_STRUCT_FROM_MEMBER(struct http_stream, task, t);
	int cancelled;

	pthread_mutex_lock(&st->lock);
	cancelled = st->cancelled;
	pthread_mutex_unlock(&st->lock);
	if (!cancelled)
		st->work(b, st->arg, st);
	pthread_mutex_lock(&st->lock);
	/* the rest joins what is handed over already: two batches at most, no waiting */
	buf_append(&st->pending, st->fill.data != NULL ? st->fill.data : "", st->fill.len);
	st->done = 1;
	http_stream_notify(st);
	pthread_mutex_unlock(&st->lock); /* st is the loop's from here on */
}

int
http_stream_head(struct http_stream *s, struct http_response *res)
{
	int cancelled;

	pthread_mutex_lock(&s->lock);
	http_response_free(&s->head);
	s->head = *res;
	http_response_init(res);
	s->head_ready = 1;
	cancelled = s->cancelled;
	http_stream_notify(s);
	pthread_mutex_unlock(&s->lock);
	return cancelled ? -1 : 0;
}

struct buf *
http_stream_buf(struct http_stream *s)
{
	return &s->fill;
}

int
http_stream_flush(struct http_stream *s, uint64_t deadline_ms)
{
	struct buf t;
	uint64_t now;

	pthread_mutex_lock(&s->lock);
	while (s->pending.len > 0 && !s->cancelled) {
		struct timespec ts;

		if ((now = clock_mono_ms()) >= deadline_ms) {
			pthread_mutex_unlock(&s->lock);
			return -2;
		}
		/* the condition variable runs on CLOCK_MONOTONIC, the clock of clock_mono_ms */
		ts.tv_sec = (time_t)(deadline_ms / 1000);
		ts.tv_nsec = (long)(deadline_ms % 1000) * 1000000;
		pthread_cond_timedwait(&s->cond, &s->lock, &ts);
	}
	if (s->cancelled) {
		pthread_mutex_unlock(&s->lock);
		return -1;
	}
	t = s->pending;
	s->pending = s->fill;
	s->fill = t;
	http_stream_notify(s);
	pthread_mutex_unlock(&s->lock);
	buf_reset(&s->fill);
	return 0;
}

void
http_stream_abort(struct http_stream *s)
{
	pthread_mutex_lock(&s->lock);
	s->aborted = 1;
	pthread_mutex_unlock(&s->lock);
}

void
http_stream_defer(struct http_req *r, http_stream_fn work, void *arg, void (*free_arg)(void *))
{
	struct http_server *s = r->worker->http;
	struct backend_pool *pool = http_job_pool(r);
	struct http_stream *st;
	pthread_condattr_t ca;

	if ((st = calloc(1, sizeof(*st))) == NULL)
		abort();
	if (pthread_mutex_init(&st->lock, NULL) != 0 || pthread_condattr_init(&ca) != 0 ||
	    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) != 0 ||
	    pthread_cond_init(&st->cond, &ca) != 0)
		abort(); /* only fails without memory */
	pthread_condattr_destroy(&ca);
	st->gen.proceed = http_stream_on_proceed;
	st->gen.stop = http_stream_on_stop;
	st->task.run = http_stream_run;
	st->server = s;
	st->work = work;
	st->arg = arg;
	st->free_arg = free_arg;
	http_response_init(&st->head);
	buf_init(&st->pending);
	buf_init(&st->out);
	buf_init(&st->fill);
	h2o_linklist_insert(&s->streams, &st->link);
	if (pool == NULL || backend_pool_submit(pool, &st->task) != 0) {
		st->done = 1; /* never ran: free it now */
		http_stream_maybe_free(st);
		http_respond_problem(r, 503, "the server is busy; retry shortly");
		return;
	}
	st->req = r;
	r->stream = st;
	http_job_deadline_arm(r);
}

void
http_stream_cancel_all(struct http_server *s)
{
	h2o_linklist_t *n;

	if (s == NULL)
		return;
	for (n = s->streams.next; n != &s->streams; n = n->next)
		http_stream_cancel(H2O_STRUCT_FROM_MEMBER(struct http_stream, link, n));
}
