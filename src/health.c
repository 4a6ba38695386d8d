/*
 * health.c: liveness and readiness.
 *
 * Liveness is answered on the loop thread and touches nothing else: it says the process
 * serves. Readiness pings MongoDB and Redis from a backend thread: MongoDB is required (503
 * without it); Redis only makes reads faster, so without it the service is "degraded" but
 * ready.
 */
#include "health.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "backend.h"
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

static double
health_ms_since(const struct timespec *start)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - start->tv_sec) * 1000.0 +
	       (double)(now.tv_nsec - start->tv_nsec) / 1e6;
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

static void
health_ready_work(struct backend *b, void *arg, struct http_response *res)
{
	char mongo_err[256] = "", redis_err[256] = "";
	struct timespec t0;
	double mongo_ms, redis_ms;
	int mongo_up, redis_up;
	mongoc_client_t *client;
	struct buf body;
	struct json j;

	(void)arg;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	client = backend_mongo(b);
	mongo_up = client != NULL && mongo_ping(client, mongo_err, sizeof(mongo_err)) == 0;
	if (client == NULL)
		snprintf(mongo_err, sizeof(mongo_err), "mongodb: no client available");
	mongo_ms = health_ms_since(&t0);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	redis_up = redis_ping(backend_redis(b), redis_err, sizeof(redis_err)) == 0;
	redis_ms = health_ms_since(&t0);

	buf_init(&body);
	json_init(&j, &body);
	json_object_begin(&j);
	json_kv_string(&j, "status", !mongo_up ? "unavailable" : redis_up ? "ok" : "degraded");
	json_key(&j, "checks");
	json_object_begin(&j);
	health_check_json(&j, "mongodb", mongo_up, mongo_ms, mongo_err);
	health_check_json(&j, "redis", redis_up, redis_ms, redis_err);
	json_object_end(&j);
	json_object_end(&j);
	http_response_json(res, mongo_up ? 200 : 503, &body);
	http_response_header(res, "cache-control", "no-store");
}

void
health_ready(struct http_req *r)
{
	http_defer(r, health_ready_work, NULL, NULL);
}
