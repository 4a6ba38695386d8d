/*
 * health.c: liveness and readiness.
 *
 * Liveness is answered on the loop thread and touches nothing else: it says the process
 * serves. Readiness pings MongoDB and Redis from a backend thread: MongoDB is required (503
 * without it); Redis only makes reads faster, so without it the service is "degraded" but
 * ready.
 *
 * /health/ready needs no token, so anyone could make every call cost two round trips. Each
 * worker keeps its last answer (status and body) in a struct health_state and serves it from
 * the loop thread while it is under HEALTH_READY_MAX_AGE_MS old; an older one is refreshed on
 * a backend thread. `refresh` lets one backend thread ping at a time: others wait for it and
 * take its answer, so a burst of calls after the state went stale still costs one ping each.
 * `mu` only guards copying the answer in and out, never a ping, so the loop thread never
 * waits behind the network.
 */
#include "health.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend.h"
#include "clock.h"
#include "json.h"
#include "mongo.h"
#include "redis.h"
#include "worker.h"

void
health_live(struct http_req *r)
{
	struct buf b;

	buf_init(&b);
	buf_appends(&b, "{\"status\":\"ok\"}");
	http_respond_json(r, 200, &b);
}

/* Milliseconds, with their fraction, since start_us (clock_mono_us). */
static double
health_ms_since(uint64_t start_us)
{
	return (double)(clock_mono_us() - start_us) / 1000.0;
}

static void
health_check_json(struct json *j, const char *name, int up, double ms, const char *error)
{
	json_key(j, name);
	json_object_begin(j);
	json_kv_string(j, "status", up ? "up" : "down");
	json_kv_double(j, "latencyMs", ms, 3);
	if (!up)
		json_kv_string(j, "error", error);
	json_object_end(j);
}

struct health_state {
	pthread_mutex_t refresh; /* held by the one backend thread that pings */
	pthread_mutex_t mu;	 /* guards the fields below */
	uint64_t at_ms;		 /* CLOCK_MONOTONIC ms of the pings; 0: none yet */
	int status;		 /* 200 or 503 */
	struct buf body;
};

struct health_state *
health_state_new(void)
{
	struct health_state *h = calloc(1, sizeof(*h));

	if (h == NULL)
		return NULL;
	if (pthread_mutex_init(&h->refresh, NULL) != 0) {
		free(h);
		return NULL;
	}
	if (pthread_mutex_init(&h->mu, NULL) != 0) {
		pthread_mutex_destroy(&h->refresh);
		free(h);
		return NULL;
	}
	buf_init(&h->body);
	return h;
}

void
health_state_free(struct health_state *h)
{
	if (h == NULL)
		return;
	pthread_mutex_destroy(&h->refresh);
	pthread_mutex_destroy(&h->mu);
	buf_free(&h->body);
	free(h);
}

/* Copies the kept answer into res when it is fresh: 1, else 0 and res untouched. */
static int
health_state_answer(struct health_state *h, struct http_response *res)
{
	struct buf copy;
	int status = 0;

	if (h == NULL)
		return 0;
	buf_init(&copy);
	pthread_mutex_lock(&h->mu);
	if (h->at_ms != 0 && clock_mono_ms() - h->at_ms < HEALTH_READY_MAX_AGE_MS) {
		status = h->status;
		buf_append(&copy, h->body.data, h->body.len);
	}
	pthread_mutex_unlock(&h->mu);
	if (status == 0) {
		buf_free(&copy);
		return 0;
	}
	http_response_json(res, status, &copy);
	http_response_header(res, "cache-control", "no-store");
	return 1;
}

/* Pings both dependencies and writes the readiness body; returns its status. */
static int
health_ping(struct backend *b, struct buf *body)
{
	char mongo_err[256] = "", redis_err[256] = "";
	uint64_t t0;
	double mongo_ms, redis_ms;
	int mongo_up, redis_up;
	mongoc_client_t *client;
	struct json j;

	t0 = clock_mono_us();
	client = backend_mongo(b);
	mongo_up = client != NULL && mongo_ping(client, mongo_err, sizeof(mongo_err)) == 0;
	if (client == NULL)
		snprintf(mongo_err, sizeof(mongo_err), "mongodb: no client available");
	mongo_ms = health_ms_since(t0);

	t0 = clock_mono_us();
	redis_up = redis_ping(backend_redis(b), redis_err, sizeof(redis_err)) == 0;
	redis_ms = health_ms_since(t0);

	json_init(&j, body);
	json_object_begin(&j);
	json_kv_string(&j, "status", !mongo_up ? "unavailable" : redis_up ? "ok" : "degraded");
	json_key(&j, "checks");
	json_object_begin(&j);
	health_check_json(&j, "mongodb", mongo_up, mongo_ms, mongo_err);
	health_check_json(&j, "redis", redis_up, redis_ms, redis_err);
	json_object_end(&j);
	json_object_end(&j);
	return mongo_up ? 200 : 503;
}

static void
health_ready_work(struct backend *b, void *arg, struct http_response *res)
{
	struct health_state *h = arg;
	struct buf body;
	int status;

	if (h != NULL) {
		pthread_mutex_lock(&h->refresh);
		/* another thread may have pinged while this one waited */
		if (health_state_answer(h, res)) {
			pthread_mutex_unlock(&h->refresh);
			return;
		}
	}
	buf_init(&body);
	status = health_ping(b, &body);
	if (h != NULL) {
		pthread_mutex_lock(&h->mu);
		buf_free(&h->body);
		buf_init(&h->body);
		buf_append(&h->body, body.data, body.len);
		h->status = status;
		h->at_ms = clock_mono_ms();
		pthread_mutex_unlock(&h->mu);
		pthread_mutex_unlock(&h->refresh);
	}
	http_response_json(res, status, &body);
	http_response_header(res, "cache-control", "no-store");
}

void
health_ready(struct http_req *r)
{
	struct health_state *h = r->worker->health;
	struct http_response res;

	http_response_init(&res);
	if (health_state_answer(h, &res)) {
		http_respond(r, &res);
		return;
	}
	http_response_free(&res);
	/* the state belongs to the worker, which outlives every job: no free_arg */
	http_defer(r, health_ready_work, h, NULL);
}
