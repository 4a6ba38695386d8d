/*
 * backend.h: the backend threads of a worker, where everything that may block runs (MongoDB,
 * Redis, sleeping). The loop thread never blocks; it hands tasks to a pool and gets results
 * back through h2o's multithread queue (see http_job.c).
 *
 * A pool is a FIFO served by N threads. Fast and slow work get separate pools, so one report
 * cannot starve the reads. Each thread owns one struct backend: its Redis connection and, while
 * a task runs, a MongoDB client taken from the worker's pool.
 *
 * The queue is bounded by time (admit.h): a task with a due time is refused at submission when
 * the pool's expected wait plus its service time would pass it, and a task that waited in the
 * queue past it anyway (the estimate was low) is handed to its shed callback when dequeued
 * instead of being run. max_queue stays as a bound on memory only.
 */
#ifndef ENTERPRISED_BACKEND_H
#define ENTERPRISED_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "shm.h"

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
	/* CLOCK_MONOTONIC µs by which the task must be done (0: no budget); set before submit */
	uint64_t due_us;
	/* runs instead of run, on the backend thread, when the task waited behind busy threads
	 * and is dequeued at or after due_us (NULL: run anyway); its time is not taken as a
	 * service time. A task that found a thread free is run even when late: the lateness
	 * was not this queue's (a slow Redis stage before it), and the pool has the capacity */
	void (*shed)(struct backend *b, struct backend_task *t);
	int waits; /* set by backend_pool_submit: queued behind busy threads */
};

struct backend_pool;

/* Starts nthreads threads for w's pool `which` (its estimate goes to w's slot of the shared
 * region under that pool's name). NULL on failure (logged). */
struct backend_pool *backend_pool_new(struct worker *w, enum shm_pool which, int nthreads,
				      size_t max_queue);
/* Queues t; returns 0, or -1 when the pool refuses it: its expected wait plus service time
 * would pass t->due_us (admit_allow; issue 8), the queue holds max_queue tasks, or the pool is
 * stopping. Callable from any thread. */
int backend_pool_submit(struct backend_pool *p, struct backend_task *t);
/* Lets queued tasks finish, joins the threads and frees the pool. */
void backend_pool_free(struct backend_pool *p);
/* Tasks queued or running. */
size_t backend_pool_pending(struct backend_pool *p);
/* The pool's expected wait for a task submitted now and its planned service time, µs
 * (admit_expected_wait_us, admit_service_us). */
void backend_pool_estimate(struct backend_pool *p, uint64_t *wait_us, uint64_t *service_us);

/* The MongoDB client of the current task (taken from the worker's pool on first use). */
mongoc_client_t *backend_mongo(struct backend *b);
/* This thread's Redis connection, (re)connected as needed; NULL when Redis is unreachable. */
struct redis_conn *backend_redis(struct backend *b);

#endif
