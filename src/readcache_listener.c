/*
 * readcache_listener.c: the monitor's Redis invalidation listener (see readcache_listener.h,
 * readcache.h): it applies other instances' invalidations to this instance's epochs and
 * renews the lease under which workers trust their memory (L1).
 */
#include "readcache_listener.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <hiredis.h>

#include "clock.h"
#include "log.h"
#include "readcache.h"
#include "redis.h"
#include "sentinel.h"

/*
 * Worker memory is trusted only under a lease that the monitor's listener renews with every
 * PING answered on its subscription connection. Redis answers in order, so a PONG proves that
 * every invalidation published before that PING has already been applied to the epochs. A
 * monitor that dies or hangs, or a Redis that hangs, stops the renewals, and workers stop
 * using L1 within READCACHE_LEASE_MS: that is the bound on a stale read after another
 * instance's write in those cases (normally the bound is the pub/sub delivery itself).
 * shm->l1_trusted holds the end of the lease in CLOCK_MONOTONIC ms modulo 2^32 (0: none).
 *
 * Read-your-writes across instances (issue 11): a message "#<ack id> names..." is applied,
 * then acknowledged by RPUSH on REDIS_CACHE_PREFIX "a:<ack id>" over a second, plain
 * connection (a subscribed one may only (un)subscribe and PING); the writer waits for every
 * acknowledgement, or for the lease of whoever stays silent to run out, before it answers
 * (redis_cache_invalidate). A failed acknowledgement drops both connections, which ends the
 * lease: an instance never serves worker memory it could not confirm.
 */
#define READCACHE_PING_MS 20
/* no PONG for this long: the connection is dead or Redis hangs; reconnect */
#define READCACHE_PING_DEAD_MS 2000
/* the listener's commands (AUTH, INCR, SUBSCRIBE) on a Redis that accepts but never answers */
#define READCACHE_LISTENER_TIMEOUT_MS 1000

/* Trust worker memory until from_ms + READCACHE_LEASE_MS. */
static void
readcache_trust(struct shm_region *shm, uint64_t from_ms)
{
	uint32_t until = (uint32_t)(from_ms + READCACHE_LEASE_MS);

	atomic_store_explicit(&shm->l1_trusted, (int32_t)(until != 0 ? until : 1),
			      memory_order_release);
}

static void
readcache_distrust(struct shm_region *shm)
{
	atomic_store_explicit(&shm->l1_trusted, 0, memory_order_release);
}

/*
 * Applies one published message (names separated by spaces, "#<ack id>" first when the
 * writer waits), then acknowledges it on ack. 0, or -1 when the acknowledgement failed.
 */
static int readcache_apply(struct shm_region *shm, redisContext *ack, const char *msg, size_t len);

/* --- the monitor's listener --- */

struct readcache_listener {
	const struct config *conf;
	struct shm_region *shm;
	volatile sig_atomic_t *stop;
	pthread_t tid;
};

static void
readcache_bump_names(struct shm_region *shm, const char *names, size_t len)
{
	const char *p = names, *end = names + len;

	while (p < end) {
		const char *sp = memchr(p, ' ', (size_t)(end - p));

		if (sp == NULL)
			sp = end;
		if (sp > p)
			shm_epoch_bump(shm, shm_epoch_slot(p, (size_t)(sp - p)));
		p = sp + 1;
	}
}

/* Drops every L2 value at once: the global generation moves. */
static int
readcache_drop_l2(redisContext *ctx)
{
	redisReply *reply = redisCommand(ctx, "INCR " REDIS_CACHE_PREFIX "g:" READCACHE_GLOBAL);
	int ok = reply != NULL && reply->type == REDIS_REPLY_INTEGER;

	if (reply != NULL)
		freeReplyObject(reply);
	return ok ? 0 : -1;
}

/*
 * Once Redis answers again after writes it missed: moves the generations of the names they
 * changed (and publishes them), so only those values die and the rest stay usable as fresh
 * or stale copies (issue 8); every value when the names did not all fit. 0, or -1 with the
 * names given back for the next try.
 */
static int
readcache_repair_l2(struct shm_region *shm, redisContext *ctx)
{
	char names[SHM_MISSED_MAX][SHM_MISSED_NAME];
	const char *deps[SHM_MISSED_MAX];
	int i, n = shm_missed_take(shm, names);

	if (n < 0)
		return readcache_drop_l2(ctx);
	for (i = 0; i < n; i++)
		deps[i] = names[i];
	if (n == 0 || redis_cache_invalidate_on(ctx, deps, n) == 0)
		return 0;
	for (i = 0; i < n; i++)
		shm_missed_add(shm, deps[i]);
	return -1;
}

static int
readcache_apply(struct shm_region *shm, redisContext *ack, const char *msg, size_t len)
{
	const char *sp;
	redisReply *reply;
	size_t idlen;
	int i, ok = 1;

	if (len == 0 || msg[0] != '#') {
		readcache_bump_names(shm, msg, len);
		return 0;
	}
	sp = memchr(msg, ' ', len);
	idlen = (sp != NULL ? (size_t)(sp - msg) : len) - 1;
	if (sp != NULL)
		readcache_bump_names(shm, sp + 1, len - (size_t)(sp + 1 - msg));
	if (idlen == 0 || idlen > 32)
		return 0; /* not an id a writer made: nobody waits for it */
	redisAppendCommand(ack, "RPUSH " REDIS_CACHE_PREFIX "a:%b 1", msg + 1, idlen);
	/* the writer deletes the list; this only covers a writer that died meanwhile */
	redisAppendCommand(ack, "PEXPIRE " REDIS_CACHE_PREFIX "a:%b 10000", msg + 1, idlen);
	for (i = 0; i < 2; i++) {
		if (redisGetReply(ack, (void **)&reply) != REDIS_OK || reply == NULL)
			return -1;
		if (reply->type == REDIS_REPLY_ERROR)
			ok = 0;
		freeReplyObject(reply);
	}
	return ok ? 0 : -1;
}

/* A PONG on a subscribed connection: ["pong", ""]. */
static int
readcache_is_pong(const redisReply *m)
{
	return m->type == REDIS_REPLY_ARRAY && m->elements >= 1 &&
	       m->element[0]->type == REDIS_REPLY_STRING && m->element[0]->len == 4 &&
	       strncasecmp(m->element[0]->str, "pong", 4) == 0;
}

/*
 * Applies published invalidations and renews the lease with a PING every READCACHE_PING_MS,
 * until the connection fails, Redis stops answering, Redis needs a drop, Sentinel announces a
 * switch, or *stop. Returns 0 when told to stop, 1 on Sentinel's word, -1 otherwise.
 */
static int
readcache_listen(struct readcache_listener *l, redisContext *ctx, redisContext *ack,
		 redisContext *sentinel)
{
	struct shm_region *shm = l->shm;
	uint64_t ping_sent = 0, next_ping = 0, now;
	int pending = 0, done;
	struct pollfd pfd[2];

	pfd[0].fd = ctx->fd;
	pfd[0].events = POLLIN;
	pfd[1].fd = sentinel != NULL ? sentinel->fd : -1; /* poll ignores a negative fd */
	pfd[1].events = POLLIN;
	pfd[1].revents = 0;
	while (!*l->stop) {
		void *r = NULL;
		int wait_ms;

		if (redisGetReplyFromReader(ctx, &r) != REDIS_OK)
			return -1;
		if (r != NULL) {
			redisReply *m = r;

			if (readcache_is_pong(m) && pending) {
				/* everything published before the PING is applied by now */
				pending = 0;
				readcache_trust(shm, ping_sent);
			} else if (m->type == REDIS_REPLY_ARRAY && m->elements == 3 &&
				   m->element[2]->type == REDIS_REPLY_STRING &&
				   readcache_apply(shm, ack, m->element[2]->str,
						   m->element[2]->len) != 0) {
				freeReplyObject(m);
				return -1;
			}
			freeReplyObject(m);
			continue;
		}
		if (atomic_load_explicit(&shm->l2_suspect, memory_order_acquire))
			return -1; /* reconnect: the drop needs a plain connection */
		now = clock_mono_ms();
		if (pending && now - ping_sent > READCACHE_PING_DEAD_MS)
			return -1;
		if (!pending && now >= next_ping) {
			if (redisAppendCommand(ctx, "PING") != REDIS_OK)
				return -1;
			do {
				if (redisBufferWrite(ctx, &done) != REDIS_OK)
					return -1;
			} while (!done);
			pending = 1;
			ping_sent = now;
			next_ping = now + READCACHE_PING_MS;
		}
		wait_ms = pending ? READCACHE_PING_MS : (int)(next_ping - now);
		if (poll(pfd, 2, wait_ms > 0 ? wait_ms : 1) < 0 && errno != EINTR)
			return -1;
		if ((pfd[0].revents & (POLLIN | POLLHUP | POLLERR)) &&
		    redisBufferRead(ctx) != REDIS_OK)
			return -1;
		if (pfd[1].revents & (POLLIN | POLLHUP | POLLERR)) {
			/* +switch-master, or the sentinel went away: ask again either way */
			log_info("cache listener: Sentinel announced a master switch (or its "
				 "connection ended); resolving the master again");
			return 1;
		}
	}
	return 0;
}

/*
 * Sentinel (issue 11): resolves the master into url and publishes it for the workers. When
 * it moved, the new master may lack writes that the old one acknowledged (replication is
 * asynchronous), generations included: so BEFORE publishing, every L2 value is marked for the
 * drop (l2_missed overflow) and L2 suspect, which the repair after the connect clears. 0, or
 * -1 when no master could be found (logged at most every 5 s).
 */
static int
readcache_follow_master(struct readcache_listener *l, struct redis_url *url, uint64_t *logged_ms)
{
	struct shm_region *shm = l->shm;
	struct sentinel_addr at;
	char host[SHM_REDIS_HOST_WORDS * 8], err[256];
	int port = 0;
	uint64_t gen;

	if (sentinel_resolve(l->conf, &at, err, sizeof(err)) != 0) {
		if (clock_mono_ms() - *logged_ms >= 5000) {
			log_warn("cache listener: %s", err);
			*logged_ms = clock_mono_ms();
		}
		return -1;
	}
	gen = shm_redis_master_read(shm, host, sizeof(host), &port);
	if (gen == 0 || strcmp(host, at.host) != 0 || port != at.port) {
		if (gen != 0) {
			atomic_store_explicit(&shm->l2_missed.overflow, 1, memory_order_release);
			atomic_store_explicit(&shm->l2_suspect, 1, memory_order_release);
			log_warn("redis: Sentinel moved the master from %s:%d to %s:%d; every "
				 "cached Redis value is dropped (writes may be lost in a failover)",
				 host, port, at.host, at.port);
		} else {
			log_info("redis: Sentinel names %s:%d as master '%s'", at.host, at.port,
				 l->conf->redis_sentinel_master);
		}
		shm_redis_master_publish(shm, at.host, at.port);
	}
	snprintf(url->host, sizeof(url->host), "%s", at.host);
	url->port = at.port;
	return 0;
}

/*
 * A plain connection to url with the listener's timeouts, authenticated, on url's database
 * (the global generation and the acknowledgements live with the cached values). NULL on
 * failure.
 */
static redisContext *
readcache_connect(const struct config *c, const struct redis_url *url)
{
	int ms = c->redis_connect_timeout_ms;
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
	redisContext *ctx = redisConnectWithTimeout(url->host, url->port, tv);
	redisReply *reply = NULL;

	if (ctx == NULL || ctx->err)
		goto fail;
	/* a Redis that accepts and never answers must not hold this thread */
	if (redisSetTimeout(ctx, (struct timeval){READCACHE_LISTENER_TIMEOUT_MS / 1000,
						  (READCACHE_LISTENER_TIMEOUT_MS % 1000) * 1000}) !=
	    REDIS_OK)
		goto fail;
	if (url->password[0] != '\0') {
		reply = redisCommand(ctx, "AUTH %s", url->password);
		if (reply == NULL || reply->type == REDIS_REPLY_ERROR)
			goto fail;
		freeReplyObject(reply);
		reply = NULL;
	}
	if (url->db != 0) {
		reply = redisCommand(ctx, "SELECT %d", url->db);
		if (reply == NULL || reply->type == REDIS_REPLY_ERROR)
			goto fail;
		freeReplyObject(reply);
	}
	return ctx;
fail:
	if (reply != NULL)
		freeReplyObject(reply);
	if (ctx != NULL)
		redisFree(ctx);
	return NULL;
}

static void *
readcache_listener_main(void *arg)
{
	struct readcache_listener *l = arg;
	struct shm_region *shm = l->shm;
	uint32_t global = shm_epoch_slot(READCACHE_GLOBAL, strlen(READCACHE_GLOBAL));
	struct redis_url url;
	uint64_t logged_ms = 0;
	char err[256];

	if (redis_url_parse(l->conf->redis_url, &url, err, sizeof(err)) != 0) {
		log_error("cache listener: %s", err);
		return NULL;
	}
	while (!*l->stop) {
		redisContext *ctx = NULL, *ack = NULL, *sentinel = NULL;
		redisReply *reply = NULL;
		int heard = 0; /* Sentinel announced a switch: resolve again at once */

		if (sentinel_enabled(l->conf)) {
			if (readcache_follow_master(l, &url, &logged_ms) != 0)
				goto retry;
			/* subscribed before the master is used: a switch from now on is heard */
			sentinel = sentinel_subscribe(l->conf);
		}
		ctx = readcache_connect(l->conf, &url);
		if (ctx == NULL || (ack = readcache_connect(l->conf, &url)) == NULL)
			goto retry;
		if (atomic_exchange_explicit(&shm->l2_suspect, 0, memory_order_acq_rel) &&
		    readcache_repair_l2(shm, ctx) != 0) {
			atomic_store_explicit(&shm->l2_suspect, 1, memory_order_release);
			goto retry;
		}
		reply = redisCommand(ctx, "SUBSCRIBE %s", REDIS_CACHE_CHANNEL);
		if (reply == NULL || reply->type == REDIS_REPLY_ERROR)
			goto retry;
		freeReplyObject(reply);
		reply = NULL;
		/* what was published while nobody listened is lost: start worker memory afresh */
		shm_epoch_bump(shm, global);
		readcache_trust(shm, clock_mono_ms());
		heard = readcache_listen(l, ctx, ack, sentinel);
		if (heard < 0)
			log_warn("cache listener: subscription lost; worker memory unused until it "
				 "is back");
	retry:
		readcache_distrust(shm);
		if (reply != NULL)
			freeReplyObject(reply);
		if (ctx != NULL)
			redisFree(ctx);
		if (ack != NULL)
			redisFree(ack);
		if (sentinel != NULL)
			redisFree(sentinel);
		for (int i = 0; i < 5 && !*l->stop && heard != 1; i++)
			usleep(100 * 1000);
	}
	readcache_distrust(shm);
	return NULL;
}

struct readcache_listener *
readcache_listener_start(const struct config *c, struct shm_region *shm,
			 volatile sig_atomic_t *stop)
{
	struct readcache_listener *l;

	/* a lease left by a monitor that died must not cover this one before it subscribes */
	readcache_distrust(shm);
	/* with the cache off it still runs under Sentinel: it is the one that finds the master */
	if ((!c->cache_enabled && !sentinel_enabled(c)) || (l = calloc(1, sizeof(*l))) == NULL)
		return NULL;
	l->conf = c;
	l->shm = shm;
	l->stop = stop;
	if (pthread_create(&l->tid, NULL, readcache_listener_main, l) != 0) {
		log_error("cache listener: cannot start its thread");
		free(l);
		return NULL;
	}
	return l;
}

void
readcache_listener_stop(struct readcache_listener *l)
{
	if (l == NULL)
		return;
	pthread_join(l->tid, NULL);
	free(l);
}
