/*
 * http_job.c: the deferred work of the HTTP engine (see http.h, http_int.h).
 *
 * Deferred work. A struct http_job is malloc'd and owned by the loop thread. It points at the
 * request context (struct http_req, in the request pool) and the context points back. Three
 * things can happen first, and each breaks the link so the others see it:
 *	- the backend returns: the loop answers if the request is alive, then frees the job;
 *	- the deadline passes: the loop answers 504 and detaches; the job is freed on return;
 *	- the request dies (client gone, stream reset): its pool disposal detaches the job and
 *	  marks it cancelled, so a backend that has not started yet skips the work.
 *
 * Overload (issue 8). A job is due at its route class's shed budget (shed_budget_*, the guide's
 * P95 targets) after it is deferred. A pool that expects to finish it later refuses it at
 * submission (backend.h, admit.h), and a job dequeued after its due time is not run: either
 * way the answer is 503 with Retry-After at once, and it goes through the job's done step like
 * any other answer, so the read cache can answer from a stale copy instead.
 */
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <h2o.h>

#include "backend.h"
#include "clock.h"
#include "http_int.h"
#include "log.h"
#include "router.h"
#include "worker.h"

struct http_job {
	struct backend_task task;
	h2o_multithread_message_t msg;
	struct http_server *server;
	struct http_req *req; /* NULL once answered (504) or gone */
	http_work_fn work;
	void *arg;
	void (*free_arg)(void *);
	http_done_fn done;
	struct http_req *followers;	/* requests waiting for the same answer */
	http_work_fn then;		/* the second stage, if any */
	struct backend_pool *then_pool; /* where it runs */
	enum shm_route_class cls;	/* of the request that deferred it */
	struct http_response res;
	_Atomic int cancelled;
	char request_id[HTTP_REQUEST_ID_MAX + 1]; /* of the owner that made it (log_request_set) */
};

/*
 * A read still unanswered at this many times its class's shed budget gets 503 + Retry-After
 * then, whatever the store does (issue 8: no answer waits much past its budget). Its work
 * goes on if it has started, so the answer still reaches the read cache for the next
 * request; reads only, since a write cut off would still happen after its 503.
 */
#define HTTP_SHED_CUTOFF 2
#define HTTP_SHED_RETRY_AFTER "1" /* seconds: a shed request is worth retrying at once */

/* --- deferred work --- */

static void
http_job_free(struct http_job *job)
{
	if (job->free_arg != NULL)
		job->free_arg(job->arg);
	http_response_free(&job->res);
	free(job);
}

/* Any thread: job's answer becomes 503 with Retry-After (refused by a pool, or dequeued past
 * its due time), counted as shed for its class unless nobody waits for it any more. */
static void
http_job_busy(struct http_job *job)
{
	struct worker *w = job->server->worker;

	http_response_free(&job->res);
	http_response_init(&job->res);
	http_response_problem(&job->res, 503, "the server is busy; retry shortly");
	http_response_header_static(&job->res, "retry-after", HTTP_SHED_RETRY_AFTER);
	if (!atomic_load_explicit(&job->cancelled, memory_order_acquire))
		atomic_fetch_add_explicit(&w->shm->shed[job->cls], 1, memory_order_relaxed);
}

/* Backend thread: a job dequeued at or past its due time is answered without running. */
static void
http_job_shed(struct backend *b, struct backend_task *t)
{
	struct http_job *job = (struct http_job *)t;

	(void)b;
	http_job_busy(job);
	h2o_multithread_send_message(&job->server->receiver, &job->msg);
}

/* Backend thread: do the work unless nobody waits for it any more, then go home. */
static void
http_job_run(struct backend *b, struct backend_task *t)
{
	struct http_job *job = (struct http_job *)t;

	log_request_set(job->request_id); /* the slow-query log names the request */
	if (!atomic_load_explicit(&job->cancelled, memory_order_acquire))
		job->work(b, job->arg, &job->res);
	log_request_set(NULL);
	/* a first stage that did not answer hands the job to the second stage's threads */
	if (job->then != NULL && job->res.status == 0 &&
	    !atomic_load_explicit(&job->cancelled, memory_order_acquire)) {
		job->work = job->then;
		job->then = NULL;
		if (backend_pool_submit(job->then_pool, &job->task) == 0)
			return; /* the job is another thread's now */
		http_job_busy(job);
	}
	h2o_multithread_send_message(&job->server->receiver, &job->msg);
}

/* Answers every follower of job with a copy of res. */
static void
http_job_answer_followers(struct http_job *job, const struct http_response *res)
{
	struct http_req *f;

	while ((f = job->followers) != NULL) {
		struct http_response copy;

		job->followers = f->next_follower;
		f->follows = NULL;
		f->next_follower = NULL;
		http_response_copy(&copy, res);
		http_respond(f, &copy);
	}
}

static h2o_timeout_t *http_deadline_of(struct http_server *s, const struct http_req *r);
static int http_shed_budget_ms(const struct config *c, enum shm_route_class cls);

/* Starts r's own deadline (its route class timeout) unless it runs already, and a read's
 * cut-off (HTTP_SHED_CUTOFF x its class's shed budget). */
void
http_job_deadline_arm(struct http_req *r)
{
	struct http_server *s = r->worker->http;
	h2o_timeout_entry_t *e = HTTP_DEADLINE_OF(r);
	enum shm_route_class cls = r->route != NULL ? r->route->cls : SHM_CLASS_OTHER;

	if (!h2o_timeout_is_linked(e))
		h2o_timeout_link(s->ctx.loop, http_deadline_of(s, r), e);
	e = HTTP_CUTOFF_OF(r);
	if ((r->method == HTTP_GET || r->method == HTTP_HEAD) &&
	    http_shed_budget_ms(r->worker->conf, cls) > 0 && !h2o_timeout_is_linked(e))
		h2o_timeout_link(s->ctx.loop, &s->cutoff[cls], e);
}

int
http_follow(struct http_req *r, struct http_job *job)
{
	/* work whose requests all left is cancelled: it may never run, so nobody waits for it */
	if (job == NULL || job->req == NULL ||
	    atomic_load_explicit(&job->cancelled, memory_order_acquire))
		return -1;
	r->follows = job;
	r->next_follower = job->followers;
	job->followers = r;
	http_job_deadline_arm(r);
	return 0;
}

/* Loop thread: a job's answer goes out (done step, followers, owner), then the job is freed. */
static void
http_job_finish(struct http_job *job)
{
	if (job->done != NULL)
		job->done(job->req, job->arg, &job->res);
	if (job->res.status == 0)
		http_response_problem(&job->res, 500, "the request failed on the server");
	http_job_answer_followers(job, &job->res);
	if (job->req != NULL) {
		struct http_req *r = job->req;

		r->job = NULL;
		job->req = NULL;
		http_respond(r, &job->res);
	}
	http_job_free(job);
}

/* Loop thread: jobs coming back. */
void
http_job_on_done(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages)
{
	(void)receiver;
	while (!h2o_linklist_is_empty(messages)) {
		h2o_multithread_message_t *m =
		    H2O_STRUCT_FROM_MEMBER(h2o_multithread_message_t, link, messages->next);

		h2o_linklist_unlink(&m->link);
		http_job_finish(H2O_STRUCT_FROM_MEMBER(struct http_job, msg, m));
	}
}

/* Detaches r from the work it waits for; an owner hands the work to its first follower, or
 * cancels it when nobody else waits. */
static void
http_req_detach(struct http_req *r)
{
	struct http_job *job;

	if (r->stream != NULL)
		http_stream_detach(r->stream);
	if (r->follows != NULL) {
		struct http_req **pp = &r->follows->followers;

		while (*pp != NULL && *pp != r)
			pp = &(*pp)->next_follower;
		if (*pp == r)
			*pp = r->next_follower;
		r->follows = NULL;
		r->next_follower = NULL;
	}
	if ((job = r->job) == NULL)
		return;
	r->job = NULL;
	if (job->followers != NULL) {
		struct http_req *f = job->followers;

		job->followers = f->next_follower;
		f->follows = NULL;
		f->next_follower = NULL;
		f->job = job;
		job->req = f;
	} else {
		atomic_store_explicit(&job->cancelled, 1, memory_order_release);
		job->req = NULL;
	}
}

/* The ms of r's route class deadline. */
static int
http_route_deadline_ms(const struct http_req *r)
{
	const struct config *c = r->worker->conf;
	enum shm_route_class cls = r->route != NULL ? r->route->cls : 0;

	if (cls == SHM_CLASS_SEARCH)
		return c->search_timeout_ms;
	if (cls == SHM_CLASS_REPORT)
		return c->report_timeout_ms;
	if (cls == SHM_CLASS_EXPORT)
		return c->export_timeout_ms;
	return c->request_timeout_ms;
}

/* The read or write budget of r when it is shorter than its route deadline, else 0. */
static int
http_budget_shorter_ms(const struct http_req *r)
{
	const struct config *c = r->worker->conf;
	int budget = r->budget == HTTP_BUDGET_READ    ? c->read_budget_ms
		     : r->budget == HTTP_BUDGET_WRITE ? c->write_budget_ms
						      : 0;

	return budget > 0 && budget < http_route_deadline_ms(r) ? budget : 0;
}

int
http_deadline_ms(const struct http_req *r)
{
	int budget = http_budget_shorter_ms(r);

	return budget > 0 ? budget : http_route_deadline_ms(r);
}

/*
 * r waited its deadline out: 504, or past a shorter read or write budget 503 with Retry-After
 * (issue 8: fail fast instead of holding the client for the route deadline). The work's done
 * step sees that answer first (the read cache answers from a stale copy there).
 */
static void
http_on_req_deadline(h2o_timeout_entry_t *entry)
{
	struct http_req_ext *x = H2O_STRUCT_FROM_MEMBER(struct http_req_ext, deadline, entry);
	struct http_req *r = &x->r;
	struct http_job *job = r->job != NULL ? r->job : r->follows;
	struct http_response res;

	http_req_detach(r);
	http_response_init(&res);
	if (http_budget_shorter_ms(r) == 0) {
		http_response_problem(&res, 504,
				      "the request did not complete within its deadline");
	} else {
		http_response_problem(&res, 503,
				      r->budget == HTTP_BUDGET_WRITE
					  ? "the database did not answer within the write budget; "
					    "the write may or may not have been applied"
					  : "the database did not answer within the read budget; "
					    "retry shortly");
		http_response_header_static(&res, "retry-after", "1");
	}
	if (job != NULL && job->done != NULL)
		job->done(r, job->arg, &res);
	http_respond(r, &res);
}

/*
 * A read at its cut-off: 503 + Retry-After now, counted as shed; its work goes on alone. As at
 * the deadline, the work's done step sees the 503 first, so the read cache answers from a
 * stale copy when it holds one (issue 8: past capacity, a stale copy, else 503 at once).
 */
static void
http_on_req_cutoff(h2o_timeout_entry_t *entry)
{
	struct http_req_ext *x = H2O_STRUCT_FROM_MEMBER(struct http_req_ext, cutoff, entry);
	struct http_req *r = &x->r;
	struct http_job *job = r->job != NULL ? r->job : r->follows;
	struct http_response res;

	http_req_detach(r);
	http_response_init(&res);
	http_response_problem(&res, 503, "the server is busy; retry shortly");
	http_response_header_static(&res, "retry-after", HTTP_SHED_RETRY_AFTER);
	if (r->route != NULL)
		atomic_fetch_add_explicit(&r->worker->shm->shed[r->route->cls], 1,
					  memory_order_relaxed);
	if (job != NULL && job->done != NULL)
		job->done(r, job->arg, &res);
	http_respond(r, &res);
}

static h2o_timeout_t *
http_deadline_of(struct http_server *s, const struct http_req *r)
{
	enum shm_route_class cls = r->route != NULL ? r->route->cls : 0;

	if (http_budget_shorter_ms(r) > 0)
		return &s->deadline[r->budget == HTTP_BUDGET_WRITE ? 4 : 3];
	if (cls == SHM_CLASS_SEARCH)
		return &s->deadline[1];
	if (cls == SHM_CLASS_REPORT)
		return &s->deadline[2];
	if (cls == SHM_CLASS_EXPORT)
		return &s->deadline[5];
	return &s->deadline[0];
}

void
http_defer(struct http_req *r, http_work_fn work, void *arg, void (*free_arg)(void *))
{
	http_defer_done(r, work, arg, free_arg, NULL);
}

/* Queues job on pool and arms its deadline; when the pool refuses it, answers 503 with
 * Retry-After at once through the job's done step. */
static void
http_job_submit(struct http_req *r, struct http_job *job, struct backend_pool *pool)
{
	if (pool == NULL || backend_pool_submit(pool, &job->task) != 0) {
		http_job_busy(job);
		http_job_finish(job);
		return;
	}
	r->job = job;
	http_job_deadline_arm(r);
}

/* The shed budget of a route class, ms (shed_budget_*; 0: never shed). */
static int
http_shed_budget_ms(const struct config *c, enum shm_route_class cls)
{
	switch (cls) {
	case SHM_CLASS_ORGANIZATION:
		return c->shed_budget_organization_ms;
	case SHM_CLASS_CLINIC:
		return c->shed_budget_clinic_ms;
	case SHM_CLASS_ASSIGNMENT:
		return c->shed_budget_assignment_ms;
	case SHM_CLASS_LIST:
		return c->shed_budget_list_ms;
	case SHM_CLASS_SEARCH:
		return c->shed_budget_search_ms;
	case SHM_CLASS_REPORT:
		return c->shed_budget_report_ms;
	default:
		return 0; /* health, the service's own endpoints, unknown routes */
	}
}

static struct http_job *
http_job_new(struct http_req *r, http_work_fn work, void *arg, void (*free_arg)(void *),
	     http_done_fn done)
{
	struct http_job *job;
	int budget_ms;

	if ((job = calloc(1, sizeof(*job))) == NULL)
		abort();
	job->task.run = http_job_run;
	job->task.shed = http_job_shed;
	job->cls = r->route != NULL ? r->route->cls : SHM_CLASS_OTHER;
	budget_ms = http_shed_budget_ms(r->worker->conf, job->cls);
	job->task.due_us = budget_ms > 0 ? clock_mono_us() + (uint64_t)budget_ms * 1000 : 0;
	job->server = r->worker->http;
	job->req = r;
	job->work = work;
	job->arg = arg;
	job->free_arg = free_arg;
	job->done = done;
	memcpy(job->request_id, r->request_id, sizeof(job->request_id));
	http_response_init(&job->res);
	return job;
}

struct backend_pool *
http_job_pool(const struct http_req *r)
{
	if (r->route != NULL && r->route->queue == ROUTER_QUEUE_EXPORT)
		return r->worker->exports;
	return (r->route != NULL && r->route->queue == ROUTER_QUEUE_SLOW) ? r->worker->slow
									  : r->worker->fast;
}

void
http_defer_done(struct http_req *r, http_work_fn work, void *arg, void (*free_arg)(void *),
		http_done_fn done)
{
	http_job_submit(r, http_job_new(r, work, arg, free_arg, done), http_job_pool(r));
}

void
http_defer_staged(struct http_req *r, http_work_fn first, http_work_fn then, void *arg,
		  void (*free_arg)(void *), http_done_fn done)
{
	struct http_job *job = http_job_new(r, first, arg, free_arg, done);

	job->then = then;
	job->then_pool = http_job_pool(r);
	http_job_submit(r, job, r->worker->cache != NULL ? r->worker->cache : job->then_pool);
}

struct http_job *
http_defer_background(struct worker *w, http_work_fn first, http_work_fn then, void *arg,
		      void (*free_arg)(void *), http_done_fn done)
{
	struct http_job *job;

	/* the drain counts requests only: background work started now could outlive the pools */
	if (w->http == NULL || w->http->stopping) {
		if (free_arg != NULL)
			free_arg(arg);
		return NULL;
	}
	if ((job = calloc(1, sizeof(*job))) == NULL)
		abort();
	job->task.run = http_job_run;
	job->server = w->http;
	job->work = first;
	job->then = then;
	job->then_pool = w->slow != NULL ? w->slow : w->fast;
	job->arg = arg;
	job->free_arg = free_arg;
	job->done = done;
	http_response_init(&job->res);
	if (backend_pool_submit(w->cache != NULL ? w->cache : job->then_pool, &job->task) != 0) {
		http_job_free(job);
		return NULL;
	}
	return job;
}

/* The request deadlines of each route class, and the read cut-offs of the classes with a
 * shed budget. */
void
http_job_timeouts_init(struct http_server *s, const struct config *c)
{
	int i;

	h2o_timeout_init(s->ctx.loop, &s->deadline[0], (uint64_t)c->request_timeout_ms);
	h2o_timeout_init(s->ctx.loop, &s->deadline[1], (uint64_t)c->search_timeout_ms);
	h2o_timeout_init(s->ctx.loop, &s->deadline[2], (uint64_t)c->report_timeout_ms);
	h2o_timeout_init(s->ctx.loop, &s->deadline[3], (uint64_t)c->read_budget_ms);
	h2o_timeout_init(s->ctx.loop, &s->deadline[4], (uint64_t)c->write_budget_ms);
	h2o_timeout_init(s->ctx.loop, &s->deadline[5], (uint64_t)c->export_timeout_ms);
	for (i = 0; i < SHM_CLASS_MAX; i++) {
		int budget = http_shed_budget_ms(c, (enum shm_route_class)i);

		if (budget > 0)
			h2o_timeout_init(s->ctx.loop, &s->cutoff[i],
					 (uint64_t)budget * HTTP_SHED_CUTOFF);
	}
}

void
http_job_req_init(struct http_req *r)
{
	HTTP_DEADLINE_OF(r)->cb = http_on_req_deadline;
	HTTP_CUTOFF_OF(r)->cb = http_on_req_cutoff;
}

void
http_job_req_dispose(struct http_req *r)
{
	h2o_timeout_unlink(HTTP_DEADLINE_OF(r));
	h2o_timeout_unlink(HTTP_CUTOFF_OF(r));
	http_req_detach(r);
}
