/*
 * http_ratelimit.c: the rate limit on the request path (issue 10; the buckets: ratelimit.c).
 *
 * Who the caller is, and when the limit applies. It runs after routing, before the handler,
 * so a refused request costs no validation, no cache and no database work:
 *	- a bearer token that verifies names the caller: its (org, sub). The token is checked
 *	  here (the worker's memo answers a token seen before without a signature check, and the
 *	  one checked here goes into the memo, where the handler finds it), so only a verified
 *	  token names a sub: an invalid one cannot pick someone else's bucket;
 *	- every other request (no token, a forged or expired one) is charged to its client
 *	  address, so an unauthenticated flood is cut by address before any handler runs. A
 *	  forged token costs a signature check here (about 4 us under HS256, auth.h), and the
 *	  handler's own when it is let through to answer 401. Charging the address before the
 *	  check would save the first, but would also refuse the first request of every honest
 *	  user behind the same address (one clinic's NAT) while someone there floods: the check
 *	  is the cheaper price.
 * The address is the TCP peer, an IPv6 peer by its /64 (ratelimit_peer); an address takes
 * at most half of a bucket window (ratelimit.c), so no number of addresses pushes verified
 * callers out of the table. Behind the front proxy every unauthenticated request shares
 * the proxy's bucket (docs/OPERATIONS.md).
 */
#include "http.h"
#include "http_int.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include <h2o.h>

#include "auth.h"
#include "clock.h"
#include "ratelimit.h"
#include "router.h"
#include "worker.h"

#define HTTP_RL_HEADER_MAX 96

/* The caller bytes of the TCP peer (ratelimit_peer: IPv4 address, IPv6 /64). */
static size_t
http_ratelimit_peer(h2o_req_t *req, unsigned char *out)
{
	struct sockaddr_storage ss;
	socklen_t sl = 0;

	if (req->conn->callbacks->get_peername != NULL)
		sl = req->conn->callbacks->get_peername(req->conn, (struct sockaddr *)&ss);
	return ratelimit_peer(sl != 0 ? (struct sockaddr *)&ss : NULL, sl, out);
}

/* The caller bytes of a verified principal: 's', org, NUL, sub (subs are per issuer, and one
 * tenant's user must not share a bucket with another tenant's user of the same name). */
static size_t
http_ratelimit_sub(const struct auth_principal *who, unsigned char *out, size_t size)
{
	int n = snprintf((char *)out, size, "s%s", who->org);

	if (n < 0 || (size_t)n + 1 >= size)
		return 0;
	return (size_t)n + 1 +
	       (size_t)snprintf((char *)out + n + 1, size - (size_t)n - 1, "%s", who->sub);
}

static void
http_ratelimit_refuse(struct http_req *r, const struct ratelimit_verdict *v, const char *policy,
		      const char *state)
{
	struct http_response res;
	char detail[160], after[24];

	http_response_init(&res);
	snprintf(detail, sizeof(detail),
		 "too many %s requests from this caller; retry after %llu s",
		 shm_class_name(r->route->cls), (unsigned long long)v->retry_after);
	http_response_problem(&res, 429, detail);
	snprintf(after, sizeof(after), "%llu", (unsigned long long)v->retry_after);
	http_response_header(&res, "retry-after", after);
	http_response_header(&res, "ratelimit-policy", policy);
	http_response_header(&res, "ratelimit", state);
	http_respond(r, &res);
}

int
http_ratelimit_or_answer(struct http_req *r)
{
	struct worker *w = r->worker;
	h2o_req_t *req = r->engine;
	enum shm_route_class cls = r->route->cls;
	const struct config_rate *p;
	struct ratelimit_verdict v;
	struct auth_principal who;
	unsigned char caller[sizeof(who.org) + sizeof(who.sub) + 2];
	char policy[HTTP_RL_HEADER_MAX], state[HTTP_RL_HEADER_MAX], err[128];
	const char *h;
	size_t len = 0, n;
	uint64_t now_ms;
	h2o_iovec_t val;

	if (w->shm == NULL || req == NULL || (p = ratelimit_policy(w->conf, cls)) == NULL)
		return 0;
	memset(&v, 0, sizeof(v));
	now_ms = clock_mono_ms();
	h = http_header(r, "authorization", &len);
	if (h != NULL && auth_check(w->auth, w->auth_memo, h, len,
				    (uint64_t)(clock_wall_ms() / 1000), &who, err, sizeof(err)) == 0) {
		n = http_ratelimit_sub(&who, caller, sizeof(caller));
		r->verified = h2o_mem_alloc_pool(&req->pool, sizeof(*r->verified));
		*r->verified = who;
	} else {
		n = 0;
	}
	if (n == 0)
		n = http_ratelimit_peer(req, caller);
	ratelimit_take(w->shm, cls, p, ratelimit_key(w->shm, cls, caller, n), now_ms, &v);
	if (!v.known) /* the slot stayed locked: let it through without headers */
		return 0;
	ratelimit_headers(cls, p, &v, policy, sizeof(policy), state, sizeof(state));
	if (!v.allowed) {
		http_ratelimit_refuse(r, &v, policy, state);
		return 1;
	}
	val = h2o_strdup(&req->pool, policy, SIZE_MAX);
	h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("ratelimit-policy"), 0,
			      NULL, val.base, val.len);
	val = h2o_strdup(&req->pool, state, SIZE_MAX);
	h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("ratelimit"), 0, NULL,
			      val.base, val.len);
	return 0;
}
