/* redis.c: one hiredis connection with millisecond timeouts (see redis.h). */
#include "redis.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis.h>
#include <openssl/rand.h>

#include "clock.h"
#include "buf.h"
#include "log.h"

struct redis_conn {
	struct redis_url url;
	int url_ok;
	int connect_timeout_ms;
	int command_timeout_ms;
	redisContext *ctx;
	uint64_t next_try_ms; /* no reconnect before this (CLOCK_MONOTONIC) */
	uint64_t master_gen;  /* Sentinel: the published master this targets; 0: REDIS_URL's */
};

static struct timeval
redis_tv(int ms)
{
	struct timeval tv;

	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	return tv;
}

int
redis_url_parse(const char *url, struct redis_url *out, char *err, size_t errlen)
{
	const char *p, *at, *host, *hend, *slash;
	size_t len;
	char *end;
	long v;

	char shown[CONFIG_STR_MAX];

	memset(out, 0, sizeof(*out));
	out->port = 6379;
	log_url_redacted(url, shown, sizeof(shown)); /* messages never show the password */
	if (strncmp(url, "redis://", 8) != 0) {
		snprintf(err, errlen, "redis URL '%s' does not start with redis://", shown);
		return -1;
	}
	p = url + 8;
	slash = strchr(p, '/');
	at = strchr(p, '@');
	if (at != NULL && (slash == NULL || at < slash)) {
		const char *colon = memchr(p, ':', (size_t)(at - p));
		const char *pw = colon != NULL ? colon + 1 : p;

		len = (size_t)(at - pw);
		if (len >= sizeof(out->password)) {
			snprintf(err, errlen, "redis URL: password too long");
			return -1;
		}
		memcpy(out->password, pw, len);
		out->password[len] = '\0';
		p = at + 1;
	}
	host = p;
	hend = slash != NULL ? slash : p + strlen(p);
	{
		const char *colon = memchr(host, ':', (size_t)(hend - host));

		if (colon != NULL) {
			errno = 0;
			v = strtol(colon + 1, &end, 10);
			if (end != hend || errno != 0 || v < 1 || v > 65535) {
				snprintf(err, errlen, "redis URL '%s': bad port", shown);
				return -1;
			}
			out->port = (int)v;
			hend = colon;
		}
	}
	len = (size_t)(hend - host);
	if (len == 0 || len >= sizeof(out->host)) {
		snprintf(err, errlen, "redis URL '%s': bad host", shown);
		return -1;
	}
	memcpy(out->host, host, len);
	out->host[len] = '\0';
	if (slash != NULL && slash[1] != '\0') {
		errno = 0;
		v = strtol(slash + 1, &end, 10);
		if (*end != '\0' || errno != 0 || v < 0 || v > 1000) {
			snprintf(err, errlen, "redis URL '%s': bad database number", shown);
			return -1;
		}
		out->db = (int)v;
	}
	return 0;
}

struct redis_conn *
redis_conn_new(const struct config *c)
{
	struct redis_conn *rc;
	char err[256];

	if ((rc = calloc(1, sizeof(*rc))) == NULL)
		return NULL;
	rc->connect_timeout_ms = c->redis_connect_timeout_ms;
	rc->command_timeout_ms = c->redis_command_timeout_ms;
	if (redis_url_parse(c->redis_url, &rc->url, err, sizeof(err)) == 0)
		rc->url_ok = 1;
	else
		log_error("%s", err);
	return rc;
}

void
redis_conn_reset(struct redis_conn *rc)
{
	if (rc->ctx != NULL) {
		redisFree(rc->ctx);
		rc->ctx = NULL;
	}
	rc->next_try_ms = clock_mono_ms() + REDIS_RETRY_MS;
}

void
redis_conn_free(struct redis_conn *rc)
{
	if (rc == NULL)
		return;
	if (rc->ctx != NULL)
		redisFree(rc->ctx);
	free(rc);
}

/* Sends one command expecting a simple reply; 0, or -1 with err. */
static int
redis_simple(struct redis_conn *rc, char *err, size_t errlen, const char *fmt, ...)
{
	redisReply *reply;
	va_list ap;
	int rcode = 0;

	va_start(ap, fmt);
	reply = redisvCommand(rc->ctx, fmt, ap);
	va_end(ap);
	if (reply == NULL) {
		snprintf(err, errlen, "redis: %s",
			 rc->ctx->errstr[0] ? rc->ctx->errstr : "no reply");
		redis_conn_reset(rc);
		return -1;
	}
	if (reply->type == REDIS_REPLY_ERROR) {
		snprintf(err, errlen, "redis: %s", reply->str);
		rcode = -1;
	}
	freeReplyObject(reply);
	return rcode;
}

int
redis_conn_ensure(struct redis_conn *rc)
{
	struct timeval tv;
	char err[256];

	if (rc->ctx != NULL)
		return 0;
	if (!rc->url_ok || clock_mono_ms() < rc->next_try_ms)
		return -1;
	tv = redis_tv(rc->connect_timeout_ms);
	rc->ctx = redisConnectWithTimeout(rc->url.host, rc->url.port, tv);
	if (rc->ctx == NULL || rc->ctx->err) {
		redis_conn_reset(rc);
		return -1;
	}
	tv = redis_tv(rc->command_timeout_ms);
	if (redisSetTimeout(rc->ctx, tv) != REDIS_OK) {
		redis_conn_reset(rc);
		return -1;
	}
	if (rc->url.password[0] != '\0' &&
	    redis_simple(rc, err, sizeof(err), "AUTH %s", rc->url.password) != 0) {
		log_warn("%s", err);
		redis_conn_reset(rc);
		return -1;
	}
	if (rc->url.db != 0 && redis_simple(rc, err, sizeof(err), "SELECT %d", rc->url.db) != 0) {
		log_warn("%s", err);
		redis_conn_reset(rc);
		return -1;
	}
	return 0;
}

int
redis_conn_follow(struct redis_conn *rc, struct shm_region *shm)
{
	char host[SHM_REDIS_HOST_WORDS * 8];
	int port = 0;
	uint64_t gen = shm_redis_master_read(shm, host, sizeof(host), &port);

	if (gen == 0)
		return -1;
	if (gen != rc->master_gen) {
		if (rc->ctx != NULL) {
			redisFree(rc->ctx);
			rc->ctx = NULL;
		}
		snprintf(rc->url.host, sizeof(rc->url.host), "%s", host);
		rc->url.port = port;
		rc->master_gen = gen;
		rc->next_try_ms = 0; /* a new master: try it at once */
	}
	return 0;
}

redisContext *
redis_conn_context(struct redis_conn *rc)
{
	return rc->ctx;
}

int
redis_ping(struct redis_conn *rc, char *err, size_t errlen)
{
	int was_connected;

	if (rc == NULL)
		goto down;
	was_connected = rc->ctx != NULL;
	if (redis_conn_ensure(rc) != 0)
		goto down;
	if (redis_simple(rc, err, errlen, "PING") == 0)
		return 0;
	/* a connection made before a Redis restart fails once: that says nothing about now */
	if (was_connected && rc->ctx == NULL) {
		rc->next_try_ms = 0;
		if (redis_conn_ensure(rc) == 0)
			return redis_simple(rc, err, errlen, "PING");
	}
	return -1;
down:
	snprintf(err, errlen, "redis: not connected");
	return -1;
}

/* --- the read cache's shared level --- */

/* An error reply of a master that Sentinel demoted (issue 11): the connection must go, so the
 * next use follows the new master. */
static void
redis_reply_check_role(struct redis_conn *rc, const redisReply *reply)
{
	if (reply != NULL && reply->type == REDIS_REPLY_ERROR && reply->str != NULL &&
	    strncmp(reply->str, "READONLY", 8) == 0)
		redis_conn_reset(rc);
}

/*
 * One command; a connection made before a Redis restart fails once with no reply, which says
 * nothing about Redis now: then it reconnects at once and tries again, once.
 */
static redisReply *
redis_command_argv(struct redis_conn *rc, int argc, const char **argv, const size_t *argl)
{
	redisReply *reply = redisCommandArgv(rc->ctx, argc, argv, argl);

	if (reply != NULL)
		return reply;
	redis_conn_reset(rc);
	rc->next_try_ms = 0;
	if (redis_conn_ensure(rc) != 0)
		return NULL;
	return redisCommandArgv(rc->ctx, argc, argv, argl);
}

static uint64_t
redis_reply_u64(const redisReply *r)
{
	if (r == NULL)
		return 0;
	if (r->type == REDIS_REPLY_INTEGER)
		return (uint64_t)r->integer;
	if (r->type == REDIS_REPLY_STRING)
		return strtoull(r->str, NULL, 10);
	return 0;
}

int
redis_cache_lookup(struct redis_conn *rc, const char *key, size_t key_len, const char *const *deps,
		   int ndeps, int ttl_s, uint64_t now_ms, uint64_t *gens, struct buf *value,
		   uint64_t *filled_ms)
{
	const char *argv[1 + 1 + REDIS_CACHE_MAX_DEPS];
	size_t argl[1 + 1 + REDIS_CACHE_MAX_DEPS];
	struct buf names[1 + REDIS_CACHE_MAX_DEPS];
	redisReply *reply;
	int i, rc_code = 0, argc = 0;

	if (ndeps > REDIS_CACHE_MAX_DEPS)
		ndeps = REDIS_CACHE_MAX_DEPS;
	argv[argc] = "MGET";
	argl[argc++] = 4;
	for (i = 0; i <= ndeps; i++) {
		buf_init(&names[i]);
		if (i == 0) {
			buf_appends(&names[i], REDIS_CACHE_PREFIX "r:");
			buf_append(&names[i], key, key_len);
		} else {
			buf_appendf(&names[i], REDIS_CACHE_PREFIX "g:%s", deps[i - 1]);
		}
		argv[argc] = names[i].data;
		argl[argc++] = names[i].len;
	}
	reply = redis_command_argv(rc, argc, argv, argl);
	for (i = 0; i <= ndeps; i++)
		buf_free(&names[i]);
	if (reply == NULL || reply->type != REDIS_REPLY_ARRAY ||
	    reply->elements != (size_t)ndeps + 1) {
		if (reply != NULL)
			freeReplyObject(reply);
		redis_conn_reset(rc);
		return -1;
	}
	for (i = 0; i < ndeps; i++)
		gens[i] = redis_reply_u64(reply->element[i + 1]);
	if (reply->element[0]->type == REDIS_REPLY_STRING) {
		const char *p = reply->element[0]->str, *end = p + reply->element[0]->len;
		int fresh = 1;

		/* "<gen>,<gen>,...;<filled>\n<etag>\n<body>": usable while each stored gen is
		 * current, fresh while younger than the TTL */
		for (i = 0; i < ndeps && fresh; i++) {
			char *next;
			uint64_t g = strtoull(p, &next, 10);

			if (next == p || g != gens[i])
				fresh = 0;
			p = next < end && *next == ',' ? next + 1 : next;
		}
		*filled_ms = now_ms;
		if (fresh && p < end && *p == ';') {
			char *next;

			*filled_ms = strtoull(p + 1, &next, 10);
			p = next == p + 1 ? end : next;
		}
		if (fresh && p < end && *p == '\n') {
			buf_reset(value);
			buf_append(value, p + 1, (size_t)(end - p - 1));
			rc_code = *filled_ms + (uint64_t)ttl_s * 1000 > now_ms ? 1 : 2;
		}
	}
	freeReplyObject(reply);
	return rc_code;
}

int
redis_cache_store(struct redis_conn *rc, const char *key, size_t key_len, const uint64_t *gens,
		  int ndeps, uint64_t filled_ms, const char *etag, const char *body,
		  size_t body_len, int ttl_s, int grace_s)
{
	struct buf name, value;
	redisReply *reply;
	char ttl[16];
	const char *argv[5];
	size_t argl[5];
	int i, ok;

	buf_init(&name);
	buf_init(&value);
	buf_appends(&name, REDIS_CACHE_PREFIX "r:");
	buf_append(&name, key, key_len);
	for (i = 0; i < ndeps; i++)
		buf_appendf(&value, "%s%llu", i ? "," : "", (unsigned long long)gens[i]);
	buf_appendf(&value, ";%llu\n%s\n", (unsigned long long)filled_ms, etag);
	buf_append(&value, body, body_len);
	snprintf(ttl, sizeof(ttl), "%lld", (long long)ttl_s + (grace_s > 0 ? grace_s : 0));
	argv[0] = "SET";
	argl[0] = 3;
	argv[1] = name.data;
	argl[1] = name.len;
	argv[2] = value.data;
	argl[2] = value.len;
	argv[3] = "EX";
	argl[3] = 2;
	argv[4] = ttl;
	argl[4] = strlen(ttl);
	reply = redis_command_argv(rc, 5, argv, argl);
	buf_free(&name);
	buf_free(&value);
	ok = reply != NULL && reply->type == REDIS_REPLY_STATUS;
	redis_reply_check_role(rc, reply);
	if (reply != NULL)
		freeReplyObject(reply);
	else
		redis_conn_reset(rc);
	return ok ? 0 : -1;
}

int
redis_cache_lock(struct redis_conn *rc, const char *key, size_t key_len, int ttl_ms)
{
	struct buf name;
	redisReply *reply;
	char ms[16];
	const char *argv[6];
	size_t argl[6];
	int got;

	buf_init(&name);
	buf_appends(&name, REDIS_CACHE_PREFIX "l:");
	buf_append(&name, key, key_len);
	snprintf(ms, sizeof(ms), "%d", ttl_ms > 0 ? ttl_ms : 1);
	argv[0] = "SET";
	argl[0] = 3;
	argv[1] = name.data;
	argl[1] = name.len;
	argv[2] = "1";
	argl[2] = 1;
	argv[3] = "NX";
	argl[3] = 2;
	argv[4] = "PX";
	argl[4] = 2;
	argv[5] = ms;
	argl[5] = strlen(ms);
	reply = redis_command_argv(rc, 6, argv, argl);
	buf_free(&name);
	if (reply == NULL) {
		redis_conn_reset(rc);
		return -1;
	}
	/* OK when set, nil when another holder has it */
	got = reply->type == REDIS_REPLY_STATUS ? 1 : reply->type == REDIS_REPLY_NIL ? 0 : -1;
	redis_reply_check_role(rc, reply);
	freeReplyObject(reply);
	return got;
}

/*
 * INCR and EXPIRE of every generation, then PUBLISH of the names, in one pipeline; the
 * message starts with "#<ack id> " when ack_id is not NULL. 0 with *receivers (PUBLISH's
 * count of subscribers), 1 when Redis answered an error, -1 when the connection failed.
 */
static int
redis_invalidate_publish(redisContext *ctx, const char *const *deps, int ndeps, const char *ack_id,
			 long long *receivers)
{
	struct buf names;
	redisReply *reply;
	int i, sent = 0, ok = 1;

	buf_init(&names);
	if (ack_id != NULL)
		buf_appendf(&names, "#%s", ack_id);
	for (i = 0; i < ndeps; i++) {
		redisAppendCommand(ctx, "INCR " REDIS_CACHE_PREFIX "g:%s", deps[i]);
		redisAppendCommand(ctx, "EXPIRE " REDIS_CACHE_PREFIX "g:%s %d", deps[i],
				   REDIS_GEN_TTL_S);
		sent += 2;
		buf_appendf(&names, "%s%s", names.len > 0 ? " " : "", deps[i]);
	}
	redisAppendCommand(ctx, "PUBLISH %s %b", REDIS_CACHE_CHANNEL, names.data, names.len);
	sent++;
	buf_free(&names);
	*receivers = 0;
	for (i = 0; i < sent; i++) {
		if (redisGetReply(ctx, (void **)&reply) != REDIS_OK || reply == NULL)
			return -1;
		if (reply->type == REDIS_REPLY_ERROR)
			ok = 0;
		else if (i == sent - 1 && reply->type == REDIS_REPLY_INTEGER)
			*receivers = reply->integer;
		freeReplyObject(reply);
	}
	return ok ? 0 : 1;
}

int
redis_cache_invalidate_on(redisContext *ctx, const char *const *deps, int ndeps)
{
	long long receivers;

	return redis_invalidate_publish(ctx, deps, ndeps, NULL, &receivers);
}

/*
 * Waits until `receivers` acknowledgements were pushed on the list REDIS_CACHE_PREFIX
 * "a:<ack_id>" or wait_ms passed (BLPOP with what is left, the socket timeout raised for it
 * meanwhile), then deletes the list. Returns how many arrived, or -1 when the connection
 * failed.
 */
static int
redis_invalidate_acks(struct redis_conn *rc, const char *ack_id, long long receivers, int wait_ms)
{
	uint64_t deadline = clock_mono_ms() + (uint64_t)wait_ms, now;
	redisReply *reply;
	int got = 0, failed = 0;

	if (redisSetTimeout(rc->ctx, redis_tv(wait_ms + rc->command_timeout_ms)) != REDIS_OK)
		return -1;
	while (got < receivers && (now = clock_mono_ms()) < deadline) {
		reply = redisCommand(rc->ctx, "BLPOP " REDIS_CACHE_PREFIX "a:%s %.3f", ack_id,
				     (double)(deadline - now) / 1000.0);
		if (reply == NULL) {
			failed = 1;
			break;
		}
		if (reply->type != REDIS_REPLY_ARRAY) { /* nil: the time is up */
			freeReplyObject(reply);
			break;
		}
		got++;
		freeReplyObject(reply);
	}
	if (!failed && redisSetTimeout(rc->ctx, redis_tv(rc->command_timeout_ms)) != REDIS_OK)
		failed = 1;
	if (!failed &&
	    (reply = redisCommand(rc->ctx, "DEL " REDIS_CACHE_PREFIX "a:%s", ack_id)) != NULL)
		freeReplyObject(reply);
	else
		failed = 1;
	return failed ? -1 : got;
}

int
redis_cache_invalidate(struct redis_conn *rc, const char *const *deps, int ndeps, int ack_wait_ms)
{
	unsigned char rnd[8];
	char ack_id[17];
	long long receivers = 0;
	int r, i;

	/* an id no other write picks: 64 random bits */
	if (ack_wait_ms > 0 && RAND_bytes(rnd, sizeof(rnd)) == 1) {
		for (i = 0; i < 8; i++)
			snprintf(ack_id + 2 * i, 3, "%02x", rnd[i]);
	} else {
		ack_wait_ms = 0;
	}
	r = redis_invalidate_publish(rc->ctx, deps, ndeps, ack_wait_ms > 0 ? ack_id : NULL,
				     &receivers);
	if (r == 0 && ack_wait_ms > 0 && receivers > 0 &&
	    redis_invalidate_acks(rc, ack_id, receivers, ack_wait_ms) < 0)
		r = -1;
	/* fewer acks than receivers is not an error: the silent ones lost their lease by now;
	 * an error reply is READONLY in practice (a demoted master): reconnect either way */
	if (r != 0)
		redis_conn_reset(rc);
	return r == 0 ? 0 : -1;
}

int
redis_cache_mget(struct redis_conn *rc, const char *const *keys, const char *const *deps, size_t n,
		 uint64_t *gens, struct buf *values, int *fresh)
{
	const char **argv;
	size_t *argl, i;
	struct buf *names;
	redisReply *reply;
	int rcode = 0;

	if (n == 0)
		return 0;
	argv = calloc(2 * n + 1, sizeof(*argv));
	argl = calloc(2 * n + 1, sizeof(*argl));
	names = calloc(2 * n, sizeof(*names));
	if (argv == NULL || argl == NULL || names == NULL)
		abort();
	argv[0] = "MGET";
	argl[0] = 4;
	for (i = 0; i < n; i++) {
		buf_init(&names[i]);
		buf_appendf(&names[i], REDIS_CACHE_PREFIX "d:%s", keys[i]);
		buf_init(&names[n + i]);
		buf_appendf(&names[n + i], REDIS_CACHE_PREFIX "g:%s", deps[i]);
		argv[1 + i] = names[i].data;
		argl[1 + i] = names[i].len;
		argv[1 + n + i] = names[n + i].data;
		argl[1 + n + i] = names[n + i].len;
	}
	reply = redis_command_argv(rc, (int)(2 * n + 1), argv, argl);
	if (reply == NULL || reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 * n) {
		if (reply != NULL)
			freeReplyObject(reply);
		redis_conn_reset(rc);
		rcode = -1;
		goto out;
	}
	for (i = 0; i < n; i++) {
		redisReply *v = reply->element[i];

		gens[i] = redis_reply_u64(reply->element[n + i]);
		fresh[i] = 0;
		if (v->type == REDIS_REPLY_STRING) {
			char *end;
			uint64_t g = strtoull(v->str, &end, 10);
			size_t head = (size_t)(end - v->str);

			if (end != v->str && head < v->len && *end == '\n' && g == gens[i]) {
				buf_reset(&values[i]);
				buf_append(&values[i], end + 1, v->len - head - 1);
				fresh[i] = 1;
			}
		}
	}
	freeReplyObject(reply);
out:
	for (i = 0; i < 2 * n; i++)
		buf_free(&names[i]);
	free(names);
	free(argv);
	free(argl);
	return rcode;
}

int
redis_cache_mset(struct redis_conn *rc, const char *const *keys, const uint64_t *gens,
		 const struct buf *values, size_t n, int ttl_s)
{
	redisReply *reply;
	size_t i;
	int ok = 1;

	for (i = 0; i < n; i++) {
		char head[32];
		int hl = snprintf(head, sizeof(head), "%llu\n", (unsigned long long)gens[i]);
		struct buf v;

		buf_init(&v);
		buf_append(&v, head, (size_t)hl);
		buf_append(&v, values[i].data != NULL ? values[i].data : "", values[i].len);
		redisAppendCommand(rc->ctx, "SET " REDIS_CACHE_PREFIX "d:%s %b EX %d", keys[i],
				   v.data, v.len, ttl_s);
		buf_free(&v);
	}
	for (i = 0; i < n; i++) {
		if (redisGetReply(rc->ctx, (void **)&reply) != REDIS_OK || reply == NULL) {
			redis_conn_reset(rc);
			return -1;
		}
		if (reply->type == REDIS_REPLY_ERROR)
			ok = 0;
		freeReplyObject(reply);
	}
	if (!ok)
		redis_conn_reset(rc); /* READONLY in practice: a demoted master */
	return ok ? 0 : -1;
}

/* --- idempotency keys (issue 10) --- */

/*
 * One command of the idempotency keys, under a timeout of at least REDIS_IDEM_TIMEOUT_MS: they
 * sit on the write path, whose budget is seconds, and a timeout there is not a cheap miss as
 * in the cache but a refused request (claim) or an answer not kept (settle).
 */
static redisReply *
redis_idem_command(struct redis_conn *rc, int argc, const char **argv, const size_t *argl)
{
	int ms = rc->command_timeout_ms > REDIS_IDEM_TIMEOUT_MS ? rc->command_timeout_ms
								: REDIS_IDEM_TIMEOUT_MS;
	redisReply *reply;

	if (ms != rc->command_timeout_ms && redisSetTimeout(rc->ctx, redis_tv(ms)) != REDIS_OK)
		return NULL;
	reply = redis_command_argv(rc, argc, argv, argl);
	/* a reconnect inside made a context with the usual timeout already */
	if (rc->ctx != NULL && ms != rc->command_timeout_ms &&
	    redisSetTimeout(rc->ctx, redis_tv(rc->command_timeout_ms)) != REDIS_OK) {
		if (reply != NULL)
			freeReplyObject(reply);
		return NULL;
	}
	return reply;
}

static void
redis_idem_name(struct buf *name, const char *scope)
{
	buf_init(name);
	buf_appends(name, REDIS_IDEM_PREFIX);
	buf_appends(name, scope);
}

int
redis_idem_claim(struct redis_conn *rc, const char *scope, const char *claim, int64_t ttl_ms,
		 struct buf *existing)
{
	struct buf name;
	redisReply *reply;
	char ms[24];
	const char *argv[7];
	size_t argl[7];
	int got = -1;

	redis_idem_name(&name, scope);
	snprintf(ms, sizeof(ms), "%lld", (long long)(ttl_ms > 0 ? ttl_ms : 1));
	argv[0] = "SET";
	argv[1] = name.data;
	argl[1] = name.len;
	argv[2] = claim;
	argv[3] = "NX";
	argv[4] = "GET"; /* Redis 7.0: NX with GET, one atomic step */
	argv[5] = "PX";
	argv[6] = ms;
	argl[0] = 3;
	argl[2] = strlen(claim);
	argl[3] = 2;
	argl[4] = 3;
	argl[5] = 2;
	argl[6] = strlen(ms);
	reply = redis_idem_command(rc, 7, argv, argl);
	buf_free(&name);
	if (reply == NULL) {
		redis_conn_reset(rc);
		return -1;
	}
	if (reply->type == REDIS_REPLY_NIL) {
		got = 1;
	} else if (reply->type == REDIS_REPLY_STRING) {
		/* our own marker: the first try was applied but its reply lost, then retried */
		if (reply->len == strlen(claim) && memcmp(reply->str, claim, reply->len) == 0) {
			got = 1;
		} else {
			buf_append(existing, reply->str, reply->len);
			got = 0;
		}
	}
	freeReplyObject(reply);
	if (got < 0)
		redis_conn_reset(rc);
	return got;
}

/* Compare-and-set in one step: the claim is replaced (or deleted, ARGV[2] empty) only while it
 * is still the one this request wrote. */
static const char redis_idem_settle_script[] =
    "local v = redis.call('GET', KEYS[1]) "
    /* the value already set: a retry of this very call after its reply was lost */
    "if ARGV[2] ~= '' and v == ARGV[2] then return 1 end "
    "if v ~= ARGV[1] then return 0 end "
    "if ARGV[2] == '' then redis.call('DEL', KEYS[1]) "
    "else redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) end "
    "return 1";

int
redis_idem_settle(struct redis_conn *rc, const char *scope, const char *claim, const char *value,
		  size_t len, int64_t ttl_ms)
{
	struct buf name;
	redisReply *reply;
	char ms[24];
	const char *argv[7];
	size_t argl[7];
	int got = -1;

	redis_idem_name(&name, scope);
	snprintf(ms, sizeof(ms), "%lld", (long long)(ttl_ms > 0 ? ttl_ms : 1));
	argv[0] = "EVAL";
	argl[0] = 4;
	argv[1] = redis_idem_settle_script;
	argl[1] = sizeof(redis_idem_settle_script) - 1;
	argv[2] = "1";
	argl[2] = 1;
	argv[3] = name.data;
	argl[3] = name.len;
	argv[4] = claim;
	argl[4] = strlen(claim);
	argv[5] = value != NULL ? value : "";
	argl[5] = value != NULL ? len : 0;
	argv[6] = ms;
	argl[6] = strlen(ms);
	reply = redis_idem_command(rc, 7, argv, argl);
	buf_free(&name);
	if (reply == NULL) {
		redis_conn_reset(rc);
		return -1;
	}
	if (reply->type == REDIS_REPLY_INTEGER)
		got = reply->integer == 1 ? 1 : 0;
	freeReplyObject(reply);
	if (got < 0)
		redis_conn_reset(rc);
	return got;
}
