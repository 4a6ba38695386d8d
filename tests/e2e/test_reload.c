/*
 * test_reload.c: SIGHUP to the master (issue 8, "Reload"). A changed setting takes effect in a
 * new generation of workers; requests on several keep-alive connections during two reloads
 * all get whole answers; a bad file or a socket change is refused with FILE:LINE and the old
 * configuration keeps serving; a rotated certificate is served to new connections while a
 * connection opened before the reload finishes its requests, and a key that does not match
 * it is refused; and the exits of the retired generation are never taken for deaths to
 * restart.
 *
 * The tests run in order on one server: each starts from the configuration the previous one
 * left. Threads that send traffic never call cmocka's assertions: they record, the test
 * thread joins them and then asserts.
 */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "client.h"
#include "harness.h"

#define WORKERS 2
#define TRAFFIC_THREADS 4
#define WAIT_MS 20000

static struct harness_deps deps;
static struct harness_server server;
static char reload_conf[PATH_MAX]; /* included by the server's kore.conf */
static char cert_path[PATH_MAX];   /* the certificate files the server is told to use */
static char key_path[PATH_MAX];
static char *admin;

static int
write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (f == NULL)
		return -1;
	fputs(text, f);
	return fclose(f) == 0 ? 0 : -1;
}

static int copy_file(const char *from, const char *to);

static void
sighup(void)
{
	assert_int_equal(kill(server.proc.pid, SIGHUP), 0);
}

/* The sum of a metric's samples matching labels (see harness_prom_sum). */
static double
metric(const char *name, const char *labels)
{
	struct harness_prom p;
	double v = -1;

	if (harness_prom_fetch(server.metrics_url, &p) == -1)
		fail_msg("GET %s failed", server.metrics_url);
	if (harness_prom_sum(&p, name, labels, &v) == 0)
		fail_msg("no %s{%s} in /metrics", name, labels != NULL ? labels : "");
	harness_prom_free(&p);
	return v;
}

/* The master's children now: pids, and how many are workers and monitors. */
struct family {
	pid_t pids[64];
	int n, workers, monitors;
};

static void
family_of_master(struct family *f)
{
	struct harness_child kids[64];
	int i;

	memset(f, 0, sizeof(*f));
	f->n = harness_children(server.proc.pid, kids, 64);
	for (i = 0; i < f->n; i++) {
		f->pids[i] = kids[i].pid;
		if (strncmp(kids[i].comm, "worker-", 7) == 0)
			f->workers++;
		else if (strcmp(kids[i].comm, "monitor") == 0)
			f->monitors++;
	}
}

static int
family_has(const struct family *f, pid_t pid)
{
	for (int i = 0; i < f->n; i++)
		if (f->pids[i] == pid)
			return 1;
	return 0;
}

/* Waits until none of old's processes is left and a whole new generation runs. */
static void
wait_replaced(const struct family *old)
{
	uint64_t deadline = harness_now_ms() + WAIT_MS;
	struct family now;
	int i, left = 0;

	memset(&now, 0, sizeof(now));
	while (harness_now_ms() < deadline) {
		family_of_master(&now);
		for (i = 0, left = 0; i < old->n; i++)
			left += family_has(&now, old->pids[i]);
		if (left == 0 && now.workers == WORKERS && now.monitors == 1)
			return;
		harness_sleep_ms(20);
	}
	harness_print_tail(server.proc.err_path, 30);
	fail_msg("after %d ms: %d processes of the old generation left, %d workers, %d monitors",
		 WAIT_MS, left, now.workers, now.monitors);
}

/* Waits until the counter of reloads with that result reaches want. */
static void
wait_reloads(const char *result, double want)
{
	uint64_t deadline = harness_now_ms() + WAIT_MS;
	char labels[64];
	double v = -1;

	snprintf(labels, sizeof(labels), "result=\"%s\"", result);
	while (harness_now_ms() < deadline) {
		if ((v = metric("enterprise_config_reloads_total", labels)) >= want)
			return;
		harness_sleep_ms(20);
	}
	fail_msg("enterprise_config_reloads_total{%s} is %.0f, not %.0f", labels, v, want);
}

/* The status of a POST of n bytes to /health/live: 413 over http_body_max, else 405. */
static long
post_status(size_t n)
{
	const char *const headers[] = {"Content-Type: application/json", NULL};
	struct harness_response r;
	char *url = client_strf("%s/api/v1/health/live", server.url);
	char *body = malloc(n);
	long status;

	assert_non_null(body);
	memset(body, 'a', n);
	if (harness_request("POST", url, headers, body, n, NULL, &r) != 0)
		fail_msg("POST %s: %s", url, r.error);
	status = r.status;
	harness_response_free(&r);
	free(body);
	free(url);
	return status;
}

/* Nothing restarted after the reload: still exactly one generation, restarts unchanged. */
static void
expect_no_restart(double restarts_before)
{
	struct family f;

	/* past the master's restart backoff (1 s): a restart of a retired worker would show */
	harness_sleep_ms(1500);
	family_of_master(&f);
	assert_int_equal(f.workers, WORKERS);
	assert_int_equal(f.monitors, 1);
	assert_true(metric("enterprise_worker_restarts_total", NULL) == restarts_before);
}

static void
test_sighup_applies_a_changed_setting(void **state)
{
	double restarts = metric("enterprise_worker_restarts_total", NULL);
	struct family old;

	assert_int_equal(post_status(3000), 413);
	family_of_master(&old);
	assert_int_equal(old.workers, WORKERS);
	assert_int_equal(write_file(reload_conf, "http_body_max 8192\n"), 0);
	sighup();
	wait_reloads("ok", 1);
	wait_replaced(&old);
	assert_int_equal(post_status(3000), 405);
	assert_int_equal(post_status(9000), 413);
	expect_no_restart(restarts);
}

static void
test_old_worker_killed_during_reload_is_not_restarted(void **state)
{
	double restarts = metric("enterprise_worker_restarts_total", NULL);
	double reloads = metric("enterprise_config_reloads_total", "result=\"ok\"");
	struct harness_child kids[16];
	struct family old;
	pid_t victim = 0;
	int i, n;

	family_of_master(&old);
	n = harness_children(server.proc.pid, kids, 16);
	for (i = 0; i < n && victim == 0; i++)
		if (strncmp(kids[i].comm, "worker-", 7) == 0)
			victim = kids[i].pid;
	assert_true(victim > 0);
	sighup();
	wait_reloads("ok", reloads + 1);
	/* the old generation is retired now: its death is not a worker to replace */
	assert_int_equal(kill(victim, SIGKILL), 0);
	wait_replaced(&old);
	expect_no_restart(restarts);
}

/* One thread: GET on a keep-alive connection, again and again; a new connection after the
 * server said `Connection: close`. Every failure is recorded, the first with its reason. */
struct traffic {
	pthread_t thread;
	int port;
	const char *token; /* NULL: /health/live; else a list that reads MongoDB */
	atomic_int stop;
	long ok, errors, closes;
	char first_error[320];
};

static void
traffic_error(struct traffic *t, const char *what, const char *why)
{
	if (t->errors++ == 0)
		snprintf(t->first_error, sizeof(t->first_error), "%s: %s", what, why);
}

static void *
traffic_run(void *arg)
{
	struct traffic *t = arg;
	struct client_conn c;
	struct client_raw_reply *r = malloc(sizeof(*r));
	char req[512];
	int open = 0, len;

	if (r == NULL)
		return NULL;
	if (t->token == NULL)
		len = snprintf(req, sizeof(req),
			       "GET /api/v1/health/live HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
	else
		len = snprintf(req, sizeof(req),
			       "GET /api/v1/organizations?limit=2 HTTP/1.1\r\nHost: 127.0.0.1\r\n"
			       "Authorization: Bearer %s\r\n\r\n",
			       t->token);
	while (!atomic_load(&t->stop)) {
		if (!open && client_conn_open(&c, t->port) != 0) {
			traffic_error(t, "connect", c.error);
			client_conn_close(&c);
			harness_sleep_ms(10);
			continue;
		}
		open = 1;
		if (client_conn_exchange(&c, req, (size_t)len, r) != 0) {
			traffic_error(t, "exchange", c.error);
			client_conn_close(&c);
			open = 0;
			continue;
		}
		if (r->status != 200) {
			char status[16];

			snprintf(status, sizeof(status), "%d", r->status);
			traffic_error(t, "status", status);
		} else {
			t->ok++;
		}
		if (r->closed) {
			if (client_conn_wait_close(&c) != 0)
				traffic_error(t, "after Connection: close", c.error);
			t->closes++;
			client_conn_close(&c);
			open = 0;
		}
		/* a client that pauses: its connection is idle for a moment between requests */
		harness_sleep_ms(10);
	}
	if (open)
		client_conn_close(&c);
	free(r);
	return NULL;
}

static void
test_reloads_under_steady_traffic_lose_nothing(void **state)
{
	double reloads = metric("enterprise_config_reloads_total", "result=\"ok\"");
	struct traffic t[TRAFFIC_THREADS];
	struct family old;
	int i, round;

	memset(t, 0, sizeof(t));
	for (i = 0; i < TRAFFIC_THREADS; i++) {
		t[i].port = server.port;
		t[i].token = i % 2 ? admin : NULL;
		assert_int_equal(pthread_create(&t[i].thread, NULL, traffic_run, &t[i]), 0);
	}
	harness_sleep_ms(300);
	for (round = 1; round <= 2; round++) {
		family_of_master(&old);
		sighup();
		wait_reloads("ok", reloads + round);
		wait_replaced(&old);
		harness_sleep_ms(300);
	}
	for (i = 0; i < TRAFFIC_THREADS; i++) {
		atomic_store(&t[i].stop, 1);
		pthread_join(t[i].thread, NULL);
	}
	for (i = 0; i < TRAFFIC_THREADS; i++) {
		if (t[i].errors != 0)
			fail_msg("connection thread %d: %ld errors in %ld answers, first: %s", i,
				 t[i].errors, t[i].ok, t[i].first_error);
		assert_true(t[i].ok > 0);
		/* every connection that an old generation held was ended after an answer */
		if (t[i].closes < 2)
			fail_msg("thread %d: %ld connections closed by the server, not 2 or more",
				 i, t[i].closes);
	}
}

static void
test_bad_file_keeps_the_running_configuration(void **state)
{
	double failed = metric("enterprise_config_reloads_total", "result=\"failed\"");
	char *log, *extra;
	struct family before, after;
	int port = harness_free_port();

	family_of_master(&before);
	/* line 2 is wrong; line 1 alone would have changed the limit */
	assert_int_equal(write_file(reload_conf, "http_body_max 4096\nhttp_body_max banana\n"), 0);
	sighup();
	wait_reloads("failed", failed + 1);
	log = harness_read_file(server.proc.err_path, NULL);
	assert_non_null(log);
	extra = client_strf("%s:2: ", reload_conf);
	if (strstr(log, extra) == NULL)
		fail_msg("no \"%s\" in the server's log", extra);
	free(extra);
	free(log);
	assert_int_equal(post_status(5000), 405); /* 8192 still, not 4096 */

	/* a new listener needs a restart: refused, and nobody listens on its port */
	assert_true(port > 0);
	extra = client_strf("http_body_max 8192\nserver extra {\n\tbind 127.0.0.1 %d\n}\n", port);
	assert_int_equal(write_file(reload_conf, extra), 0);
	free(extra);
	sighup();
	wait_reloads("failed", failed + 2);
	log = harness_read_file(server.proc.err_path, NULL);
	assert_non_null(log);
	assert_non_null(strstr(log, "server blocks instead of"));
	free(log);
	assert_false(harness_port_accepts(port));

	/* the same processes served throughout */
	family_of_master(&after);
	assert_int_equal(after.n, before.n);
	for (int i = 0; i < before.n; i++)
		assert_true(family_has(&after, before.pids[i]));
	assert_int_equal(post_status(5000), 405);
	assert_int_equal(write_file(reload_conf, "http_body_max 8192\n"), 0);
}

/* A second key pair in dir/NAME-cert.pem and dir/NAME-key.pem. */
static void
make_cert(const char *name, char *cert, char *key, size_t len)
{
	struct harness_proc p;

	snprintf(cert, len, "%s/%s-cert.pem", harness_dir(), name);
	snprintf(key, len, "%s/%s-key.pem", harness_dir(), name);
	{
		char *argv[] = {"openssl",
				"req",
				"-x509",
				"-newkey",
				"ec",
				"-pkeyopt",
				"ec_paramgen_curve:prime256v1",
				"-nodes",
				"-subj",
				"/CN=rotated",
				"-addext",
				"subjectAltName=IP:127.0.0.1",
				"-days",
				"2",
				"-keyout",
				key,
				"-out",
				cert,
				NULL};

		assert_int_equal(harness_proc_start(&p, name, argv, NULL), 0);
		assert_int_equal(harness_proc_wait(&p, 20000), 0);
		assert_int_equal(harness_exit_code(p.status), 0);
	}
}

static void
test_certificate_rotates_and_open_connection_finishes(void **state)
{
	static const char req[] = "GET /api/v1/health/live HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
	struct client_raw_reply *r = malloc(sizeof(*r));
	char fp_a[65], fp_b[65], new_cert[PATH_MAX], new_key[PATH_MAX];
	uint64_t deadline;
	struct client_conn c, fresh;
	struct family old;
	int answers = 0;

	assert_non_null(r);
	assert_int_equal(client_cert_file_fingerprint(cert_path, fp_a), 0);
	if (client_conn_open(&c, server.port) != 0)
		fail_msg("%s", c.error);
	assert_string_equal(c.fingerprint, fp_a);
	if (client_conn_exchange(&c, req, sizeof(req) - 1, r) != 0)
		fail_msg("%s", c.error);
	assert_int_equal(r->status, 200);
	assert_false(r->closed);

	make_cert("rotated", new_cert, new_key, sizeof(new_cert));
	assert_int_equal(client_cert_file_fingerprint(new_cert, fp_b), 0);
	assert_string_not_equal(fp_a, fp_b);
	assert_int_equal(rename(new_key, key_path), 0);
	assert_int_equal(rename(new_cert, cert_path), 0);

	family_of_master(&old);
	sighup();
	/* the connection keeps being used; the old worker answers every request whole and
	 * ends the connection after one, with Connection: close */
	deadline = harness_now_ms() + WAIT_MS;
	do {
		harness_sleep_ms(20);
		if (client_conn_exchange(&c, req, sizeof(req) - 1, r) != 0)
			fail_msg("request %d on the connection opened before the reload: %s",
				 answers + 2, c.error);
		assert_int_equal(r->status, 200);
		answers++;
	} while (!r->closed && harness_now_ms() < deadline);
	assert_true(r->closed);
	if (client_conn_wait_close(&c) != 0)
		fail_msg("after Connection: close: %s", c.error);
	client_conn_close(&c);
	wait_replaced(&old);

	if (client_conn_open(&fresh, server.port) != 0)
		fail_msg("%s", fresh.error);
	assert_string_equal(fresh.fingerprint, fp_b);
	if (client_conn_exchange(&fresh, req, sizeof(req) - 1, r) != 0)
		fail_msg("%s", fresh.error);
	assert_int_equal(r->status, 200);
	client_conn_close(&fresh);
	free(r);
}

static void
test_key_that_does_not_match_is_refused(void **state)
{
	double failed = metric("enterprise_config_reloads_total", "result=\"failed\"");
	char *served_key = harness_read_file(key_path, NULL), *log, fp[65];
	struct family before, after;
	struct client_conn c;

	assert_non_null(served_key);
	assert_int_equal(client_cert_file_fingerprint(cert_path, fp), 0);
	family_of_master(&before);
	/* the first key pair's key next to the rotated certificate */
	assert_int_equal(copy_file(harness_key_path(), key_path), 0);
	sighup();
	wait_reloads("failed", failed + 1);
	log = harness_read_file(server.proc.err_path, NULL);
	assert_non_null(log);
	if (strstr(log, "reload refused, the running configuration stays") == NULL ||
	    strstr(log, "certkey") == NULL)
		fail_msg("no refused reload naming certkey in the server's log");
	free(log);
	family_of_master(&after);
	assert_int_equal(after.n, before.n);
	for (int i = 0; i < before.n; i++)
		assert_true(family_has(&after, before.pids[i]));
	/* still the certificate loaded before */
	if (client_conn_open(&c, server.port) != 0)
		fail_msg("%s", c.error);
	assert_string_equal(c.fingerprint, fp);
	client_conn_close(&c);
	assert_int_equal(write_file(key_path, served_key), 0);
	free(served_key);
}

static int
copy_file(const char *from, const char *to)
{
	size_t len;
	char *text = harness_read_file(from, &len);
	int rc;

	if (text == NULL)
		return -1;
	rc = write_file(to, text);
	free(text);
	return rc;
}

static int
group_setup(void **state)
{
	static char extra[PATH_MAX + 16];
	struct harness_conf c = {.workers = WORKERS, .worker_shutdown_timeout = 5};

	if (client_suite_start(&deps, NULL, NULL, NULL, NULL) == -1)
		return -1;
	snprintf(reload_conf, sizeof(reload_conf), "%s/reload-extra.conf", harness_dir());
	snprintf(cert_path, sizeof(cert_path), "%s/served-cert.pem", harness_dir());
	snprintf(key_path, sizeof(key_path), "%s/served-key.pem", harness_dir());
	if (write_file(reload_conf, "http_body_max 2048\n") != 0 ||
	    copy_file(harness_cert_path(), cert_path) != 0 ||
	    copy_file(harness_key_path(), key_path) != 0)
		return -1;
	snprintf(extra, sizeof(extra), "include %s", reload_conf);
	c.extra = extra;
	c.certfile = cert_path;
	c.certkey = key_path;
	if ((admin = harness_token("platform_admin", NULL, NULL)) == NULL)
		return -1;
	return harness_server_start(&server, "reload", &c, &deps);
}

static int
group_teardown(void **state)
{
	return client_suite_stop(&deps, &admin);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sighup_applies_a_changed_setting),
	    cmocka_unit_test(test_old_worker_killed_during_reload_is_not_restarted),
	    cmocka_unit_test(test_reloads_under_steady_traffic_lose_nothing),
	    cmocka_unit_test(test_bad_file_keeps_the_running_configuration),
	    cmocka_unit_test(test_certificate_rotates_and_open_connection_finishes),
	    cmocka_unit_test(test_key_that_does_not_match_is_refused),
	    cmocka_unit_test(client_test_sanitizer_logs),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
