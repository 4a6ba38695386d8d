/*
 * redis.h: one hiredis connection per backend thread, with connect and command timeouts in
 * milliseconds so that a dead or hung Redis never holds a request longer than that. A failed
 * connection is retried at most every REDIS_RETRY_MS, so an outage costs one fast failure per
 * request, not a connect timeout each.
 */
#ifndef ENTERPRISED_REDIS_H
#define ENTERPRISED_REDIS_H

#include <stddef.h>

#include "config.h"

#define REDIS_RETRY_MS 500

struct redis_conn;
typedef struct redisContext redisContext;

struct redis_url {
	char host[256];
	int port;
	int db;
	char password[256];
};

/* Parses redis://[:password@]host[:port][/db]; 0, or -1 with err. */
int redis_url_parse(const char *url, struct redis_url *out, char *err, size_t errlen);

struct redis_conn *redis_conn_new(const struct config *c);
void redis_conn_free(struct redis_conn *rc);
/* Connects if needed (honouring the retry interval); 0 when connected. */
int redis_conn_ensure(struct redis_conn *rc);
/* Drops the connection after an error, so the next use reconnects. */
void redis_conn_reset(struct redis_conn *rc);
redisContext *redis_conn_context(struct redis_conn *rc);
/* PING; 0, or -1 with err (and the connection reset). */
int redis_ping(struct redis_conn *rc, char *err, size_t errlen);

#endif
