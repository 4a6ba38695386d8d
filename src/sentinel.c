/* sentinel.c: the Redis master through Redis Sentinel (see sentinel.h). */
#include "sentinel.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>

#include <hiredis.h>

#include "redis.h"

int
sentinel_list_parse(const char *list, struct sentinel_addr *out, int max, char *err, size_t errlen)
{
	const char *p = list;
	int n = 0;

	while (*p != '\0') {
		const char *start, *end, *colon, *hs, *he;
		char *pend;
		long port;

		while (*p == ' ' || *p == ',')
			p++;
		if (*p == '\0')
			break;
		start = p;
		while (*p != '\0' && *p != ',')
			p++;
		end = p;
		while (end > start && end[-1] == ' ')
			end--;
		hs = start;
		if (*start == '[') { /* [v6]:port */
			he = memchr(start, ']', (size_t)(end - start));
			if (he == NULL || he + 1 >= end || he[1] != ':')
				goto bad;
			hs = start + 1;
			colon = he + 1;
		} else {
			colon = NULL;
			for (const char *q = start; q < end; q++)
				if (*q == ':')
					colon = q;
			he = colon;
		}
		if (colon == NULL || he == hs || (size_t)(he - hs) >= SENTINEL_HOST_MAX)
			goto bad;
		if (*start != '[' && memchr(hs, ':', (size_t)(he - hs)) != NULL)
			goto bad; /* a bare IPv6 address is ambiguous */
		errno = 0;
		port = strtol(colon + 1, &pend, 10);
		if (pend != end || colon + 1 == end || errno != 0 || port < 1 || port > 65535)
			goto bad;
		if (n >= max) {
			snprintf(err, errlen, "redis sentinels: more than %d", max);
			return -1;
		}
		memcpy(out[n].host, hs, (size_t)(he - hs));
		out[n].host[he - hs] = '\0';
		out[n].port = (int)port;
		n++;
		continue;
	bad:
		snprintf(err, errlen, "redis sentinels: '%.*s' is not host:port",
			 (int)(end - start), start);
		return -1;
	}
	return n;
}

int
sentinel_enabled(const struct config *c)
{
	return c->redis_sentinels[0] != '\0';
}

int
sentinel_config_check(const struct config *c, char *err, size_t errlen)
{
	struct sentinel_addr a[SENTINEL_MAX];
	char why[CONFIG_ERR_MAX];
	int n;

	if (c->redis_sentinels[0] == '\0' && c->redis_sentinel_master[0] == '\0')
		return 0;
	if (c->redis_sentinels[0] == '\0' || c->redis_sentinel_master[0] == '\0') {
		snprintf(err, errlen,
			 "%s: redis sentinels and sentinel_master (REDIS_SENTINELS, "
			 "REDIS_SENTINEL_MASTER) go together",
			 config_where(c, c->redis_sentinels[0] != '\0' ? c->redis_sentinels
								     : c->redis_sentinel_master));
		return -1;
	}
	if ((n = sentinel_list_parse(c->redis_sentinels, a, SENTINEL_MAX, why, sizeof(why))) <= 0) {
		snprintf(err, errlen, "%s: %s", config_where(c, c->redis_sentinels),
			 n < 0 ? why : "redis sentinels: empty list");
		return -1;
	}
	if (strpbrk(c->redis_sentinel_master, " \t\r\n") != NULL) {
		snprintf(err, errlen, "%s: redis sentinel_master '%s' holds a space",
			 config_where(c, c->redis_sentinel_master), c->redis_sentinel_master);
		return -1;
	}
	return 0;
}

/* A connection with SENTINEL_TIMEOUT_MS for connect and every command, or NULL. */
static redisContext *
sentinel_connect(const char *host, int port)
{
	struct timeval tv = {SENTINEL_TIMEOUT_MS / 1000, (SENTINEL_TIMEOUT_MS % 1000) * 1000};
	redisContext *ctx = redisConnectWithTimeout(host, port, tv);

	if (ctx == NULL || ctx->err || redisSetTimeout(ctx, tv) != REDIS_OK) {
		if (ctx != NULL)
			redisFree(ctx);
		return NULL;
	}
	return ctx;
}

/* The ROLE of host:port is "master" (after AUTH with the URL's password). 0 or -1. */
static int
sentinel_is_master(const struct config *c, const char *host, int port)
{
	struct redis_url url;
	char err[256];
	redisContext *ctx = sentinel_connect(host, port);
	redisReply *r;
	int ok;

	if (ctx == NULL)
		return -1;
	if (redis_url_parse(c->redis_url, &url, err, sizeof(err)) == 0 && url.password[0] != '\0') {
		r = redisCommand(ctx, "AUTH %s", url.password);
		ok = r != NULL && r->type != REDIS_REPLY_ERROR;
		if (r != NULL)
			freeReplyObject(r);
		if (!ok) {
			redisFree(ctx);
			return -1;
		}
	}
	r = redisCommand(ctx, "ROLE");
	ok = r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements >= 1 &&
	     r->element[0]->type == REDIS_REPLY_STRING &&
	     strcasecmp(r->element[0]->str, "master") == 0;
	if (r != NULL)
		freeReplyObject(r);
	redisFree(ctx);
	return ok ? 0 : -1;
}

int
sentinel_resolve(const struct config *c, struct sentinel_addr *out, char *err, size_t errlen)
{
	struct sentinel_addr s[SENTINEL_MAX];
	int i, n = sentinel_list_parse(c->redis_sentinels, s, SENTINEL_MAX, err, errlen);

	snprintf(err, errlen, "redis sentinels: none answered for '%s'", c->redis_sentinel_master);
	for (i = 0; i < n; i++) {
		redisContext *ctx = sentinel_connect(s[i].host, s[i].port);
		redisReply *r;
		long port;

		if (ctx == NULL)
			continue; /* a dead sentinel: ask the next */
		r = redisCommand(ctx, "SENTINEL get-master-addr-by-name %s",
				 c->redis_sentinel_master);
		redisFree(ctx);
		if (r == NULL)
			continue;
		if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
		    r->element[0]->type != REDIS_REPLY_STRING ||
		    r->element[1]->type != REDIS_REPLY_STRING ||
		    r->element[0]->len >= SENTINEL_HOST_MAX) {
			snprintf(err, errlen, "redis sentinel %s:%d does not know master '%s'",
				 s[i].host, s[i].port, c->redis_sentinel_master);
			freeReplyObject(r);
			continue;
		}
		port = strtol(r->element[1]->str, NULL, 10);
		snprintf(out->host, sizeof(out->host), "%s", r->element[0]->str);
		out->port = (int)port;
		freeReplyObject(r);
		if (port < 1 || port > 65535)
			continue;
		/* a sentinel may still name a master that died or was demoted: check */
		if (sentinel_is_master(c, out->host, out->port) == 0)
			return 0;
		snprintf(err, errlen,
			 "redis sentinel %s:%d names %s:%d, which is not a master (yet)", s[i].host,
			 s[i].port, out->host, out->port);
	}
	return -1;
}

redisContext *
sentinel_subscribe(const struct config *c)
{
	struct sentinel_addr s[SENTINEL_MAX];
	char err[256];
	int i, n = sentinel_list_parse(c->redis_sentinels, s, SENTINEL_MAX, err, sizeof(err));

	for (i = 0; i < n; i++) {
		redisContext *ctx = sentinel_connect(s[i].host, s[i].port);
		redisReply *r;

		if (ctx == NULL)
			continue;
		r = redisCommand(ctx, "SUBSCRIBE +switch-master");
		if (r != NULL && r->type == REDIS_REPLY_ARRAY) {
			freeReplyObject(r);
			return ctx;
		}
		if (r != NULL)
			freeReplyObject(r);
		redisFree(ctx);
	}
	return NULL;
}
