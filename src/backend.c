/*
 * backend.c: bounded task queues served by backend threads (see backend.h).
 *
 * One mutex and one condition variable per pool: tasks are milliseconds of I/O each, so the
 * lock is never the bottleneck, and it keeps the queue obviously correct. The admission
 * estimate (admit.h) lives under the same lock: each thread notes when its task started (for
 * the youngest running age) and adds the task's service time to the average when it ends.
 */
#include "backend.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mongoc/mongoc.h>

#include "admit.h"
#include "clock.h"
#include "log.h"
#include "mongo.h"
#include "redis.h"
#include "sentinel.h"
#include "worker.h"

struct backend_thread {
	struct backend b; /* first, so a struct backend * is a struct backend_thread * */
	struct backend_pool *pool;
	pthread_t tid;
	int started;
	uint64_t task_started_us; /* of the task it runs, 0 when idle (under the pool's lock) */
};

struct backend_pool {
	const char *name;
	enum shm_pool which;
	pthread_mutex_t lock;
	pthread_cond_t ready;
	struct backend_task *head, *tail;
	size_t queued, running, max_queue;
	int stopping;
	int nthreads;
	struct backend_thread *threads;
	struct admit admit; /* service time estimate */
};

/* The pool as admit.h sees it (call with the lock held). */
static void
backend_view(const struct backend_pool *p, uint64_t now_us, struct admit_view *v)
{
	uint64_t youngest = 0;
	int i, any = 0;

	for (i = 0; i < p->nthreads; i++) {
		uint64_t st = p->threads[i].task_started_us;

		if (st != 0 && (!any || st > youngest)) {
			youngest = st;
			any = 1;
		}
	}
	v->queued = p->queued;
	v->running = p->running;
	v->nthreads = p->nthreads;
	v->youngest_age_us = any && now_us > youngest ? now_us - youngest : 0;
}

/* The pool's service time into w's slot of the shared region, for /metrics (lock held). */
static void
backend_publish(struct backend_pool *p, struct worker *w)
{
	struct admit_view v;

	if (w->shm == NULL || w->index < 0 || w->index >= SHM_MAX_WORKERS)
		return;
	backend_view(p, clock_mono_us(), &v);
	atomic_store_explicit(&w->shm->workers[w->index].pool_service_us[p->which],
			      admit_service_us(&p->admit, &v), memory_order_relaxed);
}

static void
backend_release(struct backend *b)
{
	if (b->mongo != NULL) {
		mongo_client_push(b->worker->mongo, b->mongo);
		b->mongo = NULL;
	}
}

static void *
backend_main(void *arg)
{
	struct backend_thread *bt = arg;
	struct backend_pool *p = bt->pool;
	struct backend_task *t;
	uint64_t start;
	int late;

	for (;;) {
		pthread_mutex_lock(&p->lock);
		while (p->head == NULL && !p->stopping)
			pthread_cond_wait(&p->ready, &p->lock);
		if (p->head == NULL) { /* stopping and drained */
			pthread_mutex_unlock(&p->lock);
			break;
		}
		t = p->head;
		p->head = t->next;
		if (p->head == NULL)
			p->tail = NULL;
		p->queued--;
		p->running++;
		start = clock_mono_us();
		late = t->waits && t->due_us != 0 && start >= t->due_us && t->shed != NULL;
		bt->task_started_us = start;
		pthread_mutex_unlock(&p->lock);

		t->next = NULL;
		if (late)
			t->shed(&bt->b, t); /* t may be gone after this */
		else
			t->run(&bt->b, t);
		backend_release(&bt->b);

		pthread_mutex_lock(&p->lock);
		p->running--;
		bt->task_started_us = 0;
		if (!late) {
			admit_observe(&p->admit, clock_mono_us() - start);
			backend_publish(p, bt->b.worker);
		}
		pthread_mutex_unlock(&p->lock);
	}
	redis_conn_free(bt->b.redis);
	bt->b.redis = NULL;
	return NULL;
}

struct backend_pool *
backend_pool_new(struct worker *w, enum shm_pool which, int nthreads, size_t max_queue)
{
	const char *name = shm_pool_name(which);
	struct backend_pool *p;
	int i, rc;

	if ((p = calloc(1, sizeof(*p))) == NULL ||
	    (p->threads = calloc((size_t)nthreads, sizeof(*p->threads))) == NULL) {
		log_error("backend %s: out of memory", name);
		free(p);
		return NULL;
	}
	p->name = name;
	p->which = which;
	p->max_queue = max_queue;
	p->nthreads = nthreads;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->ready, NULL);
	for (i = 0; i < nthreads; i++) {
		p->threads[i].b.worker = w;
		p->threads[i].b.id = i;
		p->threads[i].pool = p;
		if ((rc = pthread_create(&p->threads[i].tid, NULL, backend_main, &p->threads[i])) !=
		    0) {
			log_error("backend %s: pthread_create: %s", name, strerror(rc));
			backend_pool_free(p);
			return NULL;
		}
		p->threads[i].started = 1;
	}
	return p;
}

int
backend_pool_submit(struct backend_pool *p, struct backend_task *t)
{
	struct admit_view v;
	uint64_t now = t->due_us != 0 ? clock_mono_us() : 0;
	int rc = -1;

	t->next = NULL;
	pthread_mutex_lock(&p->lock);
	backend_view(p, now, &v);
	if (!p->stopping && p->queued < p->max_queue &&
	    admit_allow(&p->admit, &v, now, t->due_us)) {
		if (p->tail != NULL)
			p->tail->next = t;
		else
			p->head = t;
		p->tail = t;
		p->queued++;
		pthread_cond_signal(&p->ready);
		rc = 0;
	}
	pthread_mutex_unlock(&p->lock);
	return rc;
}

size_t
backend_pool_pending(struct backend_pool *p)
{
	size_t n;

	pthread_mutex_lock(&p->lock);
	n = p->queued + p->running;
	pthread_mutex_unlock(&p->lock);
	return n;
}

void
backend_pool_estimate(struct backend_pool *p, uint64_t *wait_us, uint64_t *service_us)
{
	struct admit_view v;

	pthread_mutex_lock(&p->lock);
	backend_view(p, clock_mono_us(), &v);
	*wait_us = admit_expected_wait_us(&p->admit, &v);
	*service_us = admit_service_us(&p->admit, &v);
	pthread_mutex_unlock(&p->lock);
}

void
backend_pool_free(struct backend_pool *p)
{
	int i;

	if (p == NULL)
		return;
	pthread_mutex_lock(&p->lock);
	p->stopping = 1;
	pthread_cond_broadcast(&p->ready);
	pthread_mutex_unlock(&p->lock);
	for (i = 0; i < p->nthreads; i++) {
		if (p->threads[i].started)
			pthread_join(p->threads[i].tid, NULL);
	}
	pthread_cond_destroy(&p->ready);
	pthread_mutex_destroy(&p->lock);
	free(p->threads);
	free(p);
}

mongoc_client_t *
backend_mongo(struct backend *b)
{
	if (b->mongo == NULL)
		b->mongo = mongo_client_pop(b->worker->mongo);
	return b->mongo;
}

struct redis_conn *
backend_redis(struct backend *b)
{
	if (b->redis == NULL)
		b->redis = redis_conn_new(b->worker->conf);
	if (b->redis == NULL)
		return NULL;
	/* Sentinel: the master the monitor's listener published (sentinel.h); read before any
	 * caller looks at l2_suspect, which the listener sets before it publishes a new one */
	if (sentinel_enabled(b->worker->conf) && redis_conn_follow(b->redis, b->worker->shm) != 0)
		return NULL;
	if (redis_conn_ensure(b->redis) != 0)
		return NULL;
	return b->redis;
}
