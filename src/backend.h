/*
 * backend.h: the backend threads of a worker, where everything that may block runs (MongoDB,
 * Redis, sleeping). The loop thread never blocks; it hands tasks to a pool and gets results
 * back through h2o's multithread queue (see http.c).
 *
 * A pool is a bounded FIFO served by N threads. Fast and slow work get separate pools, so one
 * report cannot starve the reads. Each thread owns one struct backend: its Redis connection
 * and, while a task runs, a MongoDB client taken from the worker's pool.
 */
#ifndef ENTERPRISED_BACKEND_H
#define ENTERPRISED_BACKEND_H

#include <stddef.h>

struct worker;
struct redis_conn;
typedef struct _mongoc_client_t mongoc_client_t;

struct backend {
	struct worker *worker;
	int id;
	struct redis_conn *redis; /* this thread's connection, made on first use */
	mongoc_client_t *mongo;	  /* taken for the current task, NULL otherwise */
};

struct backend_task {
	struct backend_task *next;
	void (*run)(struct backend *b, struct backend_task *t); /* runs on a backend thread */
};

struct backend_pool;

/* Starts nthreads threads. NULL on failure (logged). */
struct backend_pool *backend_pool_new(struct worker *w, const char *name, int nthreads,
				      size_t max_queue);
/* Queues t; returns 0, or -1 when the queue is full or the pool is stopping. */
int backend_pool_submit(struct backend_pool *p, struct backend_task *t);
/* Lets queued tasks finish, joins the threads and frees the pool. */
void backend_pool_free(struct backend_pool *p);
/* Tasks queued or running. */
size_t backend_pool_pending(struct backend_pool *p);

/* The MongoDB client of the current task (taken from the worker's pool on first use). */
mongoc_client_t *backend_mongo(struct backend *b);
/* This thread's Redis connection, (re)connected as needed; NULL when Redis is unreachable. */
struct redis_conn *backend_redis(struct backend *b);

#endif
