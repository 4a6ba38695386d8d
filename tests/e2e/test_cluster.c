/*
 * test_cluster.c: several enterprised instances behind HAProxy (conf/haproxy.cfg, issue 11):
 * two instances (one worker each) sharing one FerretDB and one redis-server, HAProxy in front
 * of both, all on free loopback ports, TLS on both hops.
 *
 * What it proves:
 * - a write through one instance is never read stale through the other, straight or through
 *   the proxy, even when the other's worker memory (L1) holds the old value: kept-alive
 *   connections, so the read follows the write's answer as closely as a client can;
 * - ambiguous request framing is refused by the proxy in front of the fleet;
 * - an instance killed (SIGKILL to master and workers) under load through the proxy is
 *   routed around: GETs in flight on it are repeated on the other instance (retry-on), new
 *   connections go to the survivor; the failures are bounded by the requests in flight
 *   (at most one per client connection), and every request afterwards succeeds.
 *
 * haproxy must be installed (tools/deps installs it): without it every test here fails.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "client.h"
#include "harness.h"
#include "proxy.h"

#define ORGS CLIENT_V1 "/organizations"
#define WRITES 100	    /* write-then-read rounds */
#define WAIT_L1_MS 5000	    /* the first subscription after a start */
#define LOAD_CLIENTS 6	    /* connections of the load through the proxy */
#define LOAD_BEFORE_MS 1500 /* load on both instances before the kill */
#define LOAD_AFTER_MS 3000  /* load after it */
#define AFTER_REQUESTS 40   /* sequential requests once the load stopped */

static struct harness_deps deps;
static struct harness_server a, b;
static struct harness_server front; /* only url: the proxy, for client_call_on */
static struct proxy proxy;
static char *admin;
static char org_path[64];

/* --- requests on kept-alive raw connections ----------------------------------------------- */

/* method path (body NULL: none) as admin on c; the reply in out. 0, or -1 (c->error). */
static int
conn_call(struct client_conn *c, const char *method, const char *path, const char *body,
	  struct client_raw_reply *out)
{
	char *req;
	int rc;

	if (body != NULL)
		req =
		    client_strf("%s %s HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer %s\r\n"
				"Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
				method, path, admin, strlen(body), body);
	else
		req =
		    client_strf("%s %s HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer %s\r\n"
				"\r\n",
				method, path, admin);
	rc = client_conn_exchange(c, req, strlen(req), out);
	free(req);
	return rc;
}

/* GET org_path on c: 200 expected; the organization's name into name, X-Cache into xc. */
static void
conn_get_name(struct client_conn *c, const char *what, char *name, size_t nlen, char xc[32])
{
	struct client_raw_reply r;
	bson_t *doc;
	const char *s;

	if (conn_call(c, "GET", org_path, NULL, &r) == -1)
		fail_msg("GET %s %s: %s", what, org_path, c->error);
	if (r.status != 200 || (doc = harness_json_text(r.body, strlen(r.body))) == NULL)
		fail_msg("GET %s: %s", what, r.data);
	if ((s = harness_json_str(doc, "name")) == NULL)
		fail_msg("GET %s: no name in %s", what, r.body);
	snprintf(name, nlen, "%s", s);
	bson_destroy(doc);
	if (client_raw_header(&r, "x-cache", xc, 32) == NULL)
		snprintf(xc, 32, "(none)");
}

/* --- write through one, read through another ---------------------------------------------- */

/* GETs through c until B's worker memory answers (X-Cache HIT-L1) with want. */
static void
warm_l1(struct client_conn *c, const char *want)
{
	uint64_t deadline = harness_now_ms() + WAIT_L1_MS;
	char name[128], xc[32];

	for (;;) {
		conn_get_name(c, "B (warming)", name, sizeof(name), xc);
		if (strcmp(name, want) != 0)
			fail_msg("B (warming) answers %s (X-Cache %s), want %s", name, xc, want);
		if (strcmp(xc, "HIT-L1") == 0)
			return;
		if (harness_now_ms() > deadline)
			fail_msg("B never answered from worker memory (last X-Cache %s)", xc);
		harness_sleep_ms(10);
	}
}

static void
test_a_write_through_one_instance_is_never_read_stale_through_another(void **state)
{
	struct client_conn ca = {.fd = -1}, cb = {.fd = -1}, cf = {.fd = -1};
	struct client_raw_reply r;
	char name[128], want[64], old[64], xc[32], *body;
	int i, l1_before = 0;

	(void)state;
	if (client_conn_open(&ca, a.port) == -1 || client_conn_open(&cb, b.port) == -1 ||
	    client_conn_open(&cf, proxy.port) == -1)
		fail_msg("connect: %s %s %s", ca.error, cb.error, cf.error);
	snprintf(old, sizeof(old), "Fleet 0");
	for (i = 1; i <= WRITES; i++) {
		/* B holds the old name in worker memory, the proxy's instances too */
		warm_l1(&cb, old);
		l1_before++;
		conn_get_name(&cf, "the proxy (before)", name, sizeof(name), xc);
		if (strcmp(name, old) != 0)
			fail_msg("the proxy answers %s before the write, want %s", name, old);
		/* the write through A, then at once the reads through B and the proxy */
		snprintf(want, sizeof(want), "Fleet %d", i);
		body = client_strf("{\"name\":\"%s\"}", want);
		if (conn_call(&ca, "PATCH", org_path, body, &r) == -1 || r.status != 200)
			fail_msg("PATCH through A: %s %s", ca.error, r.data);
		free(body);
		conn_get_name(&cb, "B", name, sizeof(name), xc);
		if (strcmp(name, want) != 0)
			fail_msg(
			    "round %d: B answered the old name %s (X-Cache %s) after A's write "
			    "of %s",
			    i, name, xc, want);
		conn_get_name(&cf, "the proxy", name, sizeof(name), xc);
		if (strcmp(name, want) != 0)
			fail_msg("round %d: the proxy answered the old name %s (X-Cache %s) after "
				 "A's write of %s",
				 i, name, xc, want);
		snprintf(old, sizeof(old), "%s", want);
	}
	assert_int_equal(l1_before, WRITES);
	client_conn_close(&ca);
	client_conn_close(&cb);
	client_conn_close(&cf);
}

/* --- framing ------------------------------------------------------------------------------ */

#define POST_LIVE "POST /api/v1/health/live HTTP/1.1\r\nHost: localhost\r\n"
#define SMUGGLE "GET /api/v1/smuggled HTTP/1.1\r\nHost: a\r\n\r\n"

static void
test_the_proxy_refuses_ambiguous_framing_before_any_instance(void **state)
{
	static const struct {
		const char *what, *req;
	} cases[] = {
	    {"duplicate Content-Length",
	     POST_LIVE "Content-Length: 5\r\nContent-Length: 40\r\n\r\nhello" SMUGGLE},
	    {"invalid Content-Length", POST_LIVE "Content-Length: 5x\r\n\r\nhello" SMUGGLE},
	    {"Content-Length with a Transfer-Encoding that is not chunked",
	     POST_LIVE "Transfer-Encoding: identity\r\nContent-Length: 5\r\n\r\nhello" SMUGGLE},
	};
	struct client_raw_reply r;
	char srv[64];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		client_raw_exchange(proxy.port, cases[i].req, strlen(cases[i].req), &r);
		if (r.status != 400 || !r.closed || r.responses != 1)
			fail_msg("%s: want one 400 and the close, got (closed %d):\n%s",
				 cases[i].what, r.closed, r.data);
		/* enterprised names itself in Server; the proxy's own answers do not */
		if (client_raw_header(&r, "server", srv, sizeof(srv)) != NULL)
			fail_msg("%s: answered by an instance:\n%s", cases[i].what, r.data);
	}
}

/* --- an instance killed under load -------------------------------------------------------- */

struct load {
	atomic_int stop;
	atomic_long ok, failed;
	char first_failure[256];
	pthread_mutex_t lock;
};

/* One client: GET org_path through the proxy on a kept-alive connection until stop; a broken
 * connection or an answer other than 200 is one failure, and a new connection follows. */
static void *
load_client(void *arg)
{
	struct load *l = arg;
	struct client_conn c = {.fd = -1};
	struct client_raw_reply r;
	int open = 0, rc;

	while (!atomic_load(&l->stop)) {
		if (!open) {
			if (client_conn_open(&c, proxy.port) == -1) {
				atomic_fetch_add(&l->failed, 1);
				client_conn_close(&c);
				continue;
			}
			open = 1;
		}
		rc = conn_call(&c, "GET", org_path, NULL, &r);
		if (rc == 0 && r.status == 200) {
			atomic_fetch_add(&l->ok, 1);
			if (r.closed) {
				client_conn_close(&c);
				open = 0;
			}
			continue;
		}
		atomic_fetch_add(&l->failed, 1);
		pthread_mutex_lock(&l->lock);
		if (l->first_failure[0] == '\0')
			snprintf(l->first_failure, sizeof(l->first_failure), "%.200s",
				 rc == -1 ? c.error : r.data);
		pthread_mutex_unlock(&l->lock);
		client_conn_close(&c);
		open = 0;
	}
	if (open)
		client_conn_close(&c);
	return NULL;
}

/* Requests B's monitor counted (every class and status). */
static double
served_by(const struct harness_server *s)
{
	struct harness_prom p;
	double sum = 0;

	if (harness_prom_fetch(s->metrics_url, &p) == -1)
		fail_msg("metrics of %s: %s", s->proc.name, p.error);
	harness_prom_sum(&p, "enterprise_http_requests_total", NULL, &sum);
	harness_prom_free(&p);
	return sum;
}

static void
test_an_instance_killed_under_load_is_routed_around(void **state)
{
	struct load l = {.lock = PTHREAD_MUTEX_INITIALIZER};
	pthread_t t[LOAD_CLIENTS];
	struct harness_response r;
	double b_before, b_during;
	long ok_before;
	int i, bad = 0;

	(void)state;
	b_before = served_by(&b);
	for (i = 0; i < LOAD_CLIENTS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, load_client, &l), 0);
	harness_sleep_ms(LOAD_BEFORE_MS);
	b_during = served_by(&b);
	ok_before = atomic_load(&l.ok);
	/* master and workers at once, no drain: the group the harness started it in */
	assert_int_equal(kill(-b.proc.pid, SIGKILL), 0);
	assert_int_equal(harness_proc_wait(&b.proc, 5000), 0);
	harness_sleep_ms(LOAD_AFTER_MS);
	atomic_store(&l.stop, 1);
	for (i = 0; i < LOAD_CLIENTS; i++)
		pthread_join(t[i], NULL);
	print_message("  %ld ok (%ld before the kill), %ld failed (first: %.120s); B served "
		      "%.0f under the load before it died\n",
		      atomic_load(&l.ok), ok_before, atomic_load(&l.failed), l.first_failure,
		      b_during - b_before);
	/* the load reached both instances, so the kill cut requests in flight */
	if (b_during - b_before < 1)
		fail_msg("B served nothing of the load: the kill proves nothing");
	if (ok_before < 1 || atomic_load(&l.ok) <= ok_before)
		fail_msg("no requests succeeded (%ld before the kill, %ld in all)", ok_before,
			 atomic_load(&l.ok));
	/* at most the requests in flight on B: one per client connection */
	if (atomic_load(&l.failed) > LOAD_CLIENTS)
		fail_msg("%ld requests failed, more than the %d that can be in flight",
			 atomic_load(&l.failed), LOAD_CLIENTS);
	/* afterwards every request succeeds, on new connections */
	for (i = 0; i < AFTER_REQUESTS; i++) {
		client_call_on(&front, "GET", org_path, admin, NULL, &r);
		if (r.status != 200)
			bad++;
		harness_response_free(&r);
	}
	assert_int_equal(bad, 0);
}

/* --- set-up ------------------------------------------------------------------------------- */

static int
group_setup(void **state)
{
	struct harness_conf c = {.workers = 1};
	struct harness_response r;
	bson_t *doc;
	const char *id;
	char *url;
	int ports[2], rc;

	(void)state;
	/* the proxy may close while a request is still being written */
	if (signal(SIGPIPE, SIG_IGN) == SIG_ERR)
		return -1;
	if (client_suite_start(&deps, &admin, NULL, NULL, NULL) == -1 ||
	    harness_server_start(&a, "a", &c, &deps) == -1 ||
	    harness_server_start(&b, "b", &c, &deps) == -1)
		return -1;
	ports[0] = a.port;
	ports[1] = b.port;
	if (proxy_start(&proxy, ports, 2) == -1)
		return -1;
	snprintf(front.url, sizeof(front.url), "https://127.0.0.1:%d", proxy.port);
	/* the organization every test reads, written through A */
	url = client_strf("%s" ORGS, a.url);
	rc = harness_request_token("POST", url, admin, NULL, "{\"name\":\"Fleet 0\"}", 18, &r);
	free(url);
	if (rc == -1 || r.status != 201 || (doc = harness_json(&r)) == NULL) {
		fprintf(stderr, "creating the organization: %ld %s\n", r.status, r.body);
		harness_response_free(&r);
		return -1;
	}
	id = harness_json_str(doc, "id");
	snprintf(org_path, sizeof(org_path), ORGS "/%s", id != NULL ? id : "none");
	bson_destroy(doc);
	harness_response_free(&r);
	return 0;
}

static int
group_teardown(void **state)
{
	(void)state;
	proxy_stop(&proxy);
	return client_suite_stop(&deps, &admin);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_a_write_through_one_instance_is_never_read_stale_through_another),
	    cmocka_unit_test(test_the_proxy_refuses_ambiguous_framing_before_any_instance),
	    cmocka_unit_test(test_an_instance_killed_under_load_is_routed_around),
	    cmocka_unit_test(client_test_sanitizer_logs),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
