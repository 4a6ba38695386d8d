/*
 * test_breaker.c: only MongoDB itself can open its circuit breaker (issue 7, part 2).
 *
 * The server reaches FerretDB through a TCP relay in this process, which can drop any
 * connection that carries a marker: a "poison" command that makes the connection break while
 * the server stays well (FerretDB did that on NaN). Many poison requests, many requests the
 * server refuses, and many searches stopped by their maxTimeMS leave the breaker closed and
 * every route answering; a stopped FerretDB and a hung (SIGSTOP) one still open it, and it
 * closes again once FerretDB is back. The relay only forwards bytes: the database is the real
 * FerretDB behind it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "client.h"
#include "harness.h"

#define V1 CLIENT_V1
#define MARKER "PoisonPill"
#define RELAY_MAX 64
#define SEED_ORGS 6000

static struct harness_deps deps, relayed;
static struct harness_server server;
static char *admin;

/* --- the relay ---------------------------------------------------------------------------- */

static struct {
	int listen_fd;
	int port;
	int pairs[RELAY_MAX][2]; /* [client, ferretdb], -1 when free */
	atomic_int poison;	 /* drop a connection whose client bytes hold MARKER */
	atomic_int drops;
	atomic_int stop;
	pthread_t thread;
} relay;

static void
relay_close_pair(int k, int reset)
{
	int i;

	for (i = 0; i < 2; i++) {
		if (reset) {
			struct linger l = {1, 0}; /* close with RST, as a crashing handler would */

			setsockopt(relay.pairs[k][i], SOL_SOCKET, SO_LINGER, &l, sizeof(l));
		}
		close(relay.pairs[k][i]);
		relay.pairs[k][i] = -1;
	}
}

static void
relay_accept(void)
{
	struct sockaddr_in to = {.sin_family = AF_INET};
	int c = accept(relay.listen_fd, NULL, NULL), s, k;

	if (c < 0)
		return;
	to.sin_port = htons((uint16_t)deps.mongo_port);
	to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	s = socket(AF_INET, SOCK_STREAM, 0);
	for (k = 0; k < RELAY_MAX && relay.pairs[k][0] != -1; k++)
		;
	if (s < 0 || k == RELAY_MAX || connect(s, (struct sockaddr *)&to, sizeof(to)) != 0) {
		/* FerretDB is stopped: the connection ends at once, as a refused one would */
		if (s >= 0)
			close(s);
		close(c);
		return;
	}
	relay.pairs[k][0] = c;
	relay.pairs[k][1] = s;
}

/* Forwards what fd k/i has to its peer; closes the pair at the end or on poison. */
static void
relay_forward(int k, int i)
{
	static char buf[1 << 16];
	ssize_t n = read(relay.pairs[k][i], buf, sizeof(buf)), off = 0;

	if (n <= 0) {
		relay_close_pair(k, 0);
		return;
	}
	if (i == 0 && atomic_load(&relay.poison) &&
	    memmem(buf, (size_t)n, MARKER, sizeof(MARKER) - 1) != NULL) {
		atomic_fetch_add(&relay.drops, 1);
		relay_close_pair(k, 1);
		return;
	}
	while (off < n) {
		ssize_t w = write(relay.pairs[k][1 - i], buf + off, (size_t)(n - off));

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			relay_close_pair(k, 0);
			return;
		}
		off += w;
	}
}

static void *
relay_run(void *arg)
{
	(void)arg;
	while (!atomic_load(&relay.stop)) {
		struct pollfd p[1 + 2 * RELAY_MAX];
		int who[1 + 2 * RELAY_MAX][2], n = 1, k, i, j;

		p[0] = (struct pollfd){.fd = relay.listen_fd, .events = POLLIN};
		for (k = 0; k < RELAY_MAX; k++) {
			if (relay.pairs[k][0] == -1)
				continue;
			for (i = 0; i < 2; i++) {
				p[n] = (struct pollfd){.fd = relay.pairs[k][i], .events = POLLIN};
				who[n][0] = k;
				who[n][1] = i;
				n++;
			}
		}
		if (poll(p, (nfds_t)n, 100) <= 0)
			continue;
		if (p[0].revents & POLLIN)
			relay_accept();
		for (j = 1; j < n; j++) {
			k = who[j][0];
			i = who[j][1];
			if ((p[j].revents & (POLLIN | POLLHUP | POLLERR)) &&
			    relay.pairs[k][i] == p[j].fd)
				relay_forward(k, i);
		}
	}
	return NULL;
}

static int
relay_start(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t len = sizeof(a);
	int k, one = 1;

	for (k = 0; k < RELAY_MAX; k++)
		relay.pairs[k][0] = relay.pairs[k][1] = -1;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((relay.listen_fd = socket(AF_INET, SOCK_STREAM, 0)) < 0 ||
	    setsockopt(relay.listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    bind(relay.listen_fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    listen(relay.listen_fd, 64) != 0 ||
	    getsockname(relay.listen_fd, (struct sockaddr *)&a, &len) != 0)
		return -1;
	relay.port = ntohs(a.sin_port);
	return pthread_create(&relay.thread, NULL, relay_run, NULL) == 0 ? 0 : -1;
}

static void
relay_stop(void)
{
	int k;

	atomic_store(&relay.stop, 1);
	pthread_join(relay.thread, NULL);
	for (k = 0; k < RELAY_MAX; k++)
		if (relay.pairs[k][0] != -1)
			relay_close_pair(k, 0);
	close(relay.listen_fd);
}

/* --- helpers ------------------------------------------------------------------------------ */

struct breaker_view {
	char state[16];
	int64_t failures, opens;
};

/* MongoDB's breaker as /performance/circuit-breakers shows it to a platform_admin. */
static void
breaker_read(struct breaker_view *v)
{
	bson_t *doc = client_get_json(V1 "/performance/circuit-breakers", admin);
	bson_iter_t it, arr, one;

	memset(v, 0, sizeof(*v));
	if (!bson_iter_init_find(&it, doc, "breakers") || !bson_iter_recurse(&it, &arr))
		fail_msg("no breakers");
	while (bson_iter_next(&arr)) {
		bson_t b;
		const uint8_t *data;
		uint32_t len;

		bson_iter_document(&arr, &len, &data);
		if (!bson_init_static(&b, data, len) ||
		    !bson_iter_init_find(&one, &b, "dependency") ||
		    strcmp(bson_iter_utf8(&one, NULL), "mongodb") != 0)
			continue;
		if (bson_iter_init_find(&one, &b, "state"))
			snprintf(v->state, sizeof(v->state), "%s", bson_iter_utf8(&one, NULL));
		if (bson_iter_init_find(&one, &b, "consecutiveFailures"))
			v->failures = bson_iter_as_int64(&one);
		if (bson_iter_init_find(&one, &b, "opens"))
			v->opens = bson_iter_as_int64(&one);
	}
	bson_destroy(doc);
}

static void
expect_closed_and_unchanged(const struct breaker_view *before, const char *after_what)
{
	struct breaker_view v;

	breaker_read(&v);
	if (strcmp(v.state, "CLOSED") != 0 || v.opens != before->opens || v.failures != 0)
		fail_msg("after %s: breaker %s, %lld consecutive failures, opened %lld times (was "
			 "%lld)",
			 after_what, v.state, (long long)v.failures, (long long)v.opens,
			 (long long)before->opens);
}

/* Status of method path as the admin with body (NULL: none). */
static long
status_of(const char *method, const char *path, const char *body)
{
	struct harness_response r;
	long status;

	client_call(method, path, admin, body, &r);
	status = r.status;
	harness_response_free(&r);
	return status;
}

/* Other routes still answer from the database: a new organization, then its page. */
static void
expect_routes_answer(void)
{
	static int n;
	char name[64], id[25], *path;

	snprintf(name, sizeof(name), "Breaker Alive %d", ++n);
	client_new_org(name, id);
	path = client_strf(V1 "/organizations/%s", id);
	bson_destroy(client_get_json(path, admin));
	free(path);
	assert_int_equal(status_of("GET", V1 "/clinics?limit=5", NULL), 200);
}

/* Requests that need the database until the breaker is OPEN (at most tries of them). */
static void
push_until_open(int tries, const char *what)
{
	struct breaker_view v;
	int i;

	for (i = 0; i < tries; i++) {
		char *body = client_strf("{\"name\":\"Breaker Outage %d\"}", i);
		long st = status_of("POST", V1 "/organizations", body);

		free(body);
		if (st == 201)
			fail_msg("%s: a create succeeded", what);
		breaker_read(&v);
		if (strcmp(v.state, "OPEN") == 0) {
			print_message("%s: open after %d requests\n", what, i + 1);
			/* and now it answers at once, for every route */
			assert_int_equal(status_of("GET", V1 "/clinics?limit=7", NULL), 503);
			return;
		}
	}
	fail_msg("%s: breaker still %s after %d requests", what, v.state, tries);
}

/* After the dependency is back: requests until one succeeds, then the breaker closes. */
static void
wait_recovered(void)
{
	struct breaker_view v;
	int i;

	/* writes, which no cache answers, so each one reaches the breaker */
	for (i = 0; i < 600; i++) {
		char *body = client_strf("{\"name\":\"Breaker Recovery %d\"}", i);
		long st = status_of("POST", V1 "/organizations", body);

		free(body);
		if (st == 201) {
			breaker_read(&v);
			if (strcmp(v.state, "CLOSED") == 0)
				return;
		}
		usleep(100 * 1000);
	}
	fail_msg("the breaker did not close after FerretDB came back");
}

/* --- tests -------------------------------------------------------------------------------- */

static void
test_poison_requests_leave_the_breaker_closed(void **state)
{
	struct breaker_view before;
	int i, drops;

	(void)state;
	breaker_read(&before);
	atomic_store(&relay.poison, 1);
	for (i = 0; i < 12; i++) {
		char *body = client_strf("{\"name\":\"" MARKER " %d\"}", i);
		char *path = client_strf(V1 "/organizations/search?q=" MARKER "%d", i);
		long st = status_of("POST", V1 "/organizations", body);

		if (st < 500)
			fail_msg("poison create answered %ld", st);
		st = status_of("GET", path, NULL);
		if (st < 500)
			fail_msg("poison search answered %ld", st);
		free(body);
		free(path);
	}
	atomic_store(&relay.poison, 0);
	drops = atomic_load(&relay.drops);
	print_message("relay dropped %d connections\n", drops);
	assert_true(drops >= 24);
	expect_closed_and_unchanged(&before, "24 poison requests");
	expect_routes_answer();
}

static void
test_refused_inputs_leave_the_breaker_closed(void **state)
{
	struct breaker_view before;
	char id[25], *path;
	int i;

	(void)state;
	client_new_org("Breaker Refusals", id);
	path = client_strf(V1 "/organizations/%s", id);
	breaker_read(&before);
	for (i = 0; i < 10; i++) {
		assert_int_equal(status_of("POST", V1 "/organizations", "{\"name\":NaN}"), 400);
		assert_int_equal(status_of("PATCH", path, "{\"name\":Infinity}"), 400);
		assert_int_equal(
		    status_of("POST", V1 "/organizations", "{\"name\":\"A\"}{\"status\":\"X\"}"),
		    400);
		assert_int_equal(
		    status_of("GET", V1 "/organizations/000000000000000000000000", NULL), 404);
	}
	free(path);
	expect_closed_and_unchanged(&before, "40 refused requests");
	expect_routes_answer();
}

static void
test_searches_stopped_by_max_time_leave_the_breaker_closed(void **state)
{
	struct breaker_view before;
	int i, n504 = 0;

	(void)state;
	breaker_read(&before);
	for (i = 0; i < 12; i++) {
		char *path = client_strf(V1 "/organizations/search?q=Seeded%%20Slow%%20%d", i);
		long st = status_of("GET", path, NULL);

		n504 += st == 504;
		free(path);
	}
	print_message("%d of 12 searches over %d organizations hit the 150 ms search budget\n",
		      n504, SEED_ORGS);
	assert_true(n504 >= 6);
	expect_closed_and_unchanged(&before, "searches stopped by maxTimeMS");
	expect_routes_answer();
}

static void
test_a_stopped_ferretdb_opens_the_breaker(void **state)
{
	(void)state;
	harness_ferretdb_stop(&deps);
	push_until_open(40, "stopped FerretDB");
	assert_int_equal(harness_ferretdb_start(&deps), 0);
	wait_recovered();
	expect_routes_answer();
}

static void
test_a_hung_ferretdb_opens_the_breaker(void **state)
{
	(void)state;
	harness_proc_pause(&deps.ferretdb);
	push_until_open(60, "hung FerretDB");
	harness_proc_resume(&deps.ferretdb);
	wait_recovered();
	expect_routes_answer();
}

/* --- setup -------------------------------------------------------------------------------- */

/* Organizations written straight into FerretDB, so that a search scans past its budget. */
static int
seed_orgs(void)
{
	mongoc_client_t *client = harness_mongo_client(&deps);
	mongoc_collection_t *coll;
	bson_t *docs[500];
	bson_error_t error;
	int i, j, ok = 0;

	if (client == NULL)
		return -1;
	coll = mongoc_client_get_collection(client, HARNESS_DB, "organizations");
	for (i = 0; i < SEED_ORGS; i += 500) {
		for (j = 0; j < 500; j++) {
			char name[64];

			snprintf(name, sizeof(name), "Seeded Org %06d", i + j);
			docs[j] = BCON_NEW("name", BCON_UTF8(name), "status", BCON_UTF8("ACTIVE"),
					   "subscriptionTier", BCON_UTF8("FREE"), "createdAt",
					   BCON_DATE_TIME(1700000000000 + i + j), "updatedAt",
					   BCON_DATE_TIME(1700000000000 + i + j), "version",
					   BCON_INT32(1));
		}
		ok = mongoc_collection_insert_many(coll, (const bson_t **)docs, 500, NULL, NULL,
						   &error);
		for (j = 0; j < 500; j++)
			bson_destroy(docs[j]);
		if (!ok)
			break;
	}
	if (!ok)
		fprintf(stderr, "seed: %s\n", error.message);
	mongoc_collection_destroy(coll);
	mongoc_client_destroy(client);
	return ok ? 0 : -1;
}

static int
group_setup(void **state)
{
	/* short budgets and a short open period, so outages and recoveries take seconds */
	struct harness_conf c = {
	    .workers = 1,
	    .request_timeout = 2000,
	    .extra = "search_timeout 150\n"
		     "report_timeout 2000\n"
		     /* socketTimeoutMS follows the longest class deadline: keep them all short */
		     "export_timeout 2000\n"
		     "background_timeout 2000\n"
		     "circuit_breaker {\n\ttimeout 1500\n}\n",
	};

	(void)state;
	if (harness_init() == -1 || harness_deps_start(&deps) == -1 || seed_orgs() == -1 ||
	    relay_start() == -1)
		return -1;
	relayed = deps;
	relayed.mongo_port = relay.port;
	if ((admin = harness_token("platform_admin", NULL, "root")) == NULL)
		return -1;
	if (harness_server_start(&server, "breaker", &c, &relayed) == -1)
		return -1;
	client_use(&server, admin);
	return 0;
}

static int
group_teardown(void **state)
{
	(void)state;
	free(admin);
	harness_server_stop_all();
	relay_stop();
	harness_deps_stop(&deps);
	harness_cleanup();
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_poison_requests_leave_the_breaker_closed),
	    cmocka_unit_test(test_refused_inputs_leave_the_breaker_closed),
	    cmocka_unit_test(test_searches_stopped_by_max_time_leave_the_breaker_closed),
	    cmocka_unit_test(test_a_stopped_ferretdb_opens_the_breaker),
	    cmocka_unit_test(test_a_hung_ferretdb_opens_the_breaker),
	    cmocka_unit_test(client_test_sanitizer_logs),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
