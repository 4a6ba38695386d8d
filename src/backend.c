/*
 * backend.c: bounded task queues served by backend threads (see backend.h).
 *
 * One mutex and one condition variable per pool: tasks are milliseconds of I/O each, so the
 * lock is never the bottleneck, and it keeps the queue obviously correct.
 */
#include "backend.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mongoc/mongoc.h>

#include "log.h"
#include "mongo.h"
#include "redis.h"
#include "worker.h"

struct backend_thread {
	struct backend b; /* first, so a struct backend * is a struct backend_thread * */
	struct backend_pool *pool;
	pthread_t tid;
	int started;
};

struct backend_pool {
	char name[16];
	pthread_mutex_t lock;
	pthread_cond_t ready;
	struct backend_task *head, *tail;
	size_t queued, running, max_queue;
	int stopping;
	int nthreads;
	struct backend_thread *threads;
};

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
		pthread_mutex_unlock(&p->lock);

		t->next = NULL;
		t->run(&bt->b, t); /* t may be gone after this */
		backend_release(&bt->b);

		pthread_mutex_lock(&p->lock);
		p->running--;
		pthread_mutex_unlock(&p->lock);
	}
	redis_conn_free(bt->b.redis);
	bt->b.redis = NULL;
	return NULL;
}

struct backend_pool *
backend_pool_new(struct worker *w, const char *name, int nthreads, size_t max_queue)
{
	struct backend_pool *p;
	int i, rc;

	if ((p = calloc(1, sizeof(*p))) == NULL ||
	    (p->threads = calloc((size_t)nthreads, sizeof(*p->threads))) == NULL) {
		log_error("backend %s: out of memory", name);
		free(p);
		return NULL;
	}
	snprintf(p->name, sizeof(p->name), "%s", name);
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
	int rc = -1;

	t->next = NULL;
	pthread_mutex_lock(&p->lock);
	if (!p->stopping && p->queued < p->max_queue) {
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
	if (b->redis == NULL || redis_conn_ensure(b->redis) != 0)
		return NULL;
	return b->redis;
}
