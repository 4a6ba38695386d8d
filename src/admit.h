/*
 * admit.h: admission of work to a backend pool by expected wait (issue 8, "overload: answer
 * within the budget, or say no at once").
 *
 * A request has a budget: its route class's P95 target from the guide (150 ms for an
 * organization, 200 ms for a list, ...; shed_budget_* in the configuration). A pool of N
 * threads serving tasks that take S on average drains its queue at N / S tasks a second, so a
 * task queued behind Q others starts after about Q * S / N, plus the rest of what is running
 * (S / 2 on average). Work is admitted only if that wait plus its own service time fits in
 * what is left of its budget; otherwise it is refused at once (the caller answers 503 with
 * Retry-After, or a stale copy), instead of queueing until it times out and making everything
 * behind it late too. The queue is thereby bounded by time, not by length: with S = 10 ms
 * four threads take 50 queued organization reads, with S = 400 ms none.
 *
 * S is an exponentially weighted moving average of the service times the pool measured (weight
 * 1/8: about the last dozen tasks), the estimator of Envoy's adaptive-concurrency filter and
 * Netflix's concurrency-limits, reduced to the one question asked here. Two rules keep it
 * honest when it has nothing recent to go by:
 *	- a free thread admits anything: the wait is zero whatever S says, and the task that runs
 *	  is the sample that corrects S (so a pool whose S grew past every budget still serves one
 *	  task per thread and learns when the store is fast again);
 *	- S is never taken below the age of the youngest task running: when every thread has been
 *	  busy longer than S (a cold start, a store that hung), that age is the better guess.
 * Pure arithmetic over what the pool passes in; the pool keeps it under its own lock.
 */
#ifndef ENTERPRISED_ADMIT_H
#define ENTERPRISED_ADMIT_H

#include <stddef.h>
#include <stdint.h>

#define ADMIT_EWMA_SHIFT 3 /* new sample weight 1/8 */

struct admit {
	uint64_t service_us; /* EWMA of service times, µs; 0 before the first sample */
	uint64_t samples;    /* samples taken */
};

/* What the pool looks like at the moment of a decision. */
struct admit_view {
	size_t queued;		  /* tasks waiting for a thread */
	size_t running;		  /* tasks on a thread */
	int nthreads;		  /* threads of the pool */
	uint64_t youngest_age_us; /* age of the most recently started running task, µs */
};

/* 1 when a task submitted now starts at once: nothing is queued and a thread is idle. */
int admit_thread_free(const struct admit_view *v);

/* Takes one measured service time (µs) into the average. */
void admit_observe(struct admit *a, uint64_t service_us);

/* The service time to plan with, µs: the average, or the youngest running task's age when
 * every thread is busy and that is longer. */
uint64_t admit_service_us(const struct admit *a, const struct admit_view *v);

/* Expected wait (µs) before a task submitted now starts: 0 while a thread is free, else
 * queued * S / nthreads + S / 2. */
uint64_t admit_expected_wait_us(const struct admit *a, const struct admit_view *v);

/*
 * 1 when a task due at due_us (CLOCK_MONOTONIC µs; 0: no budget, always admitted) and
 * submitted at now_us may be queued: a thread is free, or now + expected wait + S <= due.
 * 0: refuse it now.
 */
int admit_allow(const struct admit *a, const struct admit_view *v, uint64_t now_us,
		uint64_t due_us);

#endif
