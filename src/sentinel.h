/*
 * sentinel.h: finding the Redis master through Redis Sentinel (issue 11), following the
 * client guidelines (https://redis.io/docs/latest/develop/reference/sentinel-clients/): ask the
 * sentinels in order `SENTINEL get-master-addr-by-name NAME` with a short timeout, skipping
 * dead ones, then verify with `ROLE` that the address answers as a master; hear switches on a
 * sentinel's `+switch-master` channel.
 *
 * Who asks: only the monitor's listener thread (readcache_listener.c) resolves and publishes
 * the master in the shared region (shm_redis_master_*); every worker connection reads it from
 * there and reconnects when its generation moves. One resolver means the listener can mark L2
 * suspect BEFORE any worker talks to the new master (a failover may lose writes the old master
 * acknowledged: see docs/DECISIONS.md, "Redis Sentinel").
 */
#ifndef ENTERPRISED_SENTINEL_H
#define ENTERPRISED_SENTINEL_H

#include <stddef.h>

#include "config.h"

#define SENTINEL_MAX 8
#define SENTINEL_HOST_MAX 64
/* one sentinel's connect + answer, and the ROLE check of the master it names */
#define SENTINEL_TIMEOUT_MS 300

struct sentinel_addr {
	char host[SENTINEL_HOST_MAX];
	int port;
};

/*
 * Parses REDIS_SENTINELS, "host:port,host:port,..." (spaces around items allowed; the port is
 * required, IPv6 hosts in brackets "[::1]:26379"). Returns the count (1..SENTINEL_MAX), 0 for
 * an empty list, or -1 with err.
 */
int sentinel_list_parse(const char *list, struct sentinel_addr *out, int max, char *err,
			size_t errlen);

/* 1 when the configuration names sentinels (then REDIS_URL's host and port are unused). */
int sentinel_enabled(const struct config *c);

/* The start check (`enterprised -t` too): both directives or neither, a list that parses, a
 * master name without spaces. 0, or -1 with err. */
int sentinel_config_check(const struct config *c, char *err, size_t errlen);

/*
 * Asks the sentinels of c in order for the master of c->redis_sentinel_master and verifies
 * with ROLE (authenticated with REDIS_URL's password, if any) that it is one; each step waits
 * at most SENTINEL_TIMEOUT_MS. Returns 0 with out set, or -1 with err (no sentinel answered,
 * none knows the name, or the address does not answer as a master yet).
 */
int sentinel_resolve(const struct config *c, struct sentinel_addr *out, char *err, size_t errlen);

/*
 * A connection to the first sentinel that answers, subscribed to +switch-master (its fd is
 * polled by the listener; any message on it or its loss means "re-resolve"). NULL when none
 * answers. Free it with redisFree.
 */
struct redisContext *sentinel_subscribe(const struct config *c);

#endif
