/*
 * test_process.c: the master, its workers and its monitor, seen from outside: names in /proc,
 * the pidfile, a worker killed with SIGKILL under traffic, and SIGTERM during slow requests.
 *
 * Threads that send traffic never call cmocka's assertions (they longjmp on the wrong stack):
 * they record, the test thread joins them and then asserts.
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

#include <cmocka.h>

#include "client.h"
#include "harness.h"

#define WORKERS 2

static struct harness_deps deps;
static struct harness_server server;

static int
is_worker(const char *comm)
{
	return strncmp(comm, "worker-", 7) == 0;
}

static void
test_pidfile_holds_the_master_pid(void **state)
{
	char *text = harness_read_file(server.pidfile, NULL);

	if (text == NULL)
		fail_msg("no pidfile at %s", server.pidfile);
	assert_int_equal(atoi(text), server.proc.pid);
	free(text);
}

static void
test_master_runs_named_workers_and_one_monitor(void **state)
{
	struct harness_child kids[32];
	char want[32];
	int n = harness_children(server.proc.pid, kids, 32), i, k, monitors = 0, workers = 0;
	int keymgrs = 0;

	for (i = 0; i < n; i++) {
		if (strcmp(kids[i].comm, "monitor") == 0)
			monitors++;
		else if (strcmp(kids[i].comm, "keymgr") == 0) /* TLS on: keymgr on by default */
			keymgrs++;
		else if (is_worker(kids[i].comm))
			workers++;
		else
			fail_msg("unexpected child %d named \"%s\"", (int)kids[i].pid,
				 kids[i].comm);
	}
	assert_int_equal(monitors, 1);
	assert_int_equal(keymgrs, 1);
	assert_int_equal(workers, WORKERS);
	for (k = 0; k < WORKERS; k++) {
		snprintf(want, sizeof(want), "worker-%d", k);
		if (harness_child_by_comm(server.proc.pid, want) == 0)
			fail_msg("no child named %s", want);
	}
}

/* One thread sending GET /api/v1/health/live on fresh connections until told to stop. */
struct traffic {
	pthread_t thread;
	char url[128];
	atomic_int stop;
	struct sample {
		uint64_t start_ms;
		int ok;
	} * samples;
	size_t n, cap;
};

static void *
traffic_run(void *arg)
{
	struct traffic *t = arg;
	struct harness_http_opts o = {.timeout_ms = 3000};
	struct harness_response r;

	while (!atomic_load(&t->stop)) {
		uint64_t start = harness_now_ms();
		int ok =
		    harness_request("GET", t->url, NULL, NULL, 0, &o, &r) == 0 && r.status == 200;

		harness_response_free(&r);
		if (t->n == t->cap) {
			t->cap = t->cap ? t->cap * 2 : 1024;
			t->samples = realloc(t->samples, t->cap * sizeof(*t->samples));
			if (t->samples == NULL)
				abort();
		}
		t->samples[t->n].start_ms = start;
		t->samples[t->n].ok = ok;
		t->n++;
	}
	return NULL;
}

/* Waits up to timeout_ms for a worker whose pid is not in old[]; returns it or 0. */
static pid_t
wait_new_worker(const pid_t *old, int nold, unsigned timeout_ms, char *comm, size_t commlen)
{
	uint64_t deadline = harness_now_ms() + timeout_ms;
	struct harness_child kids[32];
	int n, i, j;

	while (harness_now_ms() < deadline) {
		n = harness_children(server.proc.pid, kids, 32);
		for (i = 0; i < n; i++) {
			if (!is_worker(kids[i].comm))
				continue;
			for (j = 0; j < nold && old[j] != kids[i].pid; j++)
				;
			if (j == nold) {
				snprintf(comm, commlen, "%s", kids[i].comm);
				return kids[i].pid;
			}
		}
		harness_sleep_ms(20);
	}
	return 0;
}

static void
test_killed_worker_is_replaced_under_traffic(void **state)
{
	struct traffic t[2];
	struct harness_prom p;
	pid_t victim, other, monitor, fresh, old[WORKERS + 1];
	char comm[32] = "";
	uint64_t killed_at, fresh_at = 0;
	size_t total = 0, ok = 0, after = 0, after_failed = 0, i;
	double restarts = -1;
	int k;

	victim = harness_child_by_comm(server.proc.pid, "worker-0");
	other = harness_child_by_comm(server.proc.pid, "worker-1");
	monitor = harness_child_by_comm(server.proc.pid, "monitor");
	assert_true(victim > 0 && other > 0 && monitor > 0);
	old[0] = victim;
	old[1] = other;

	memset(t, 0, sizeof(t));
	for (k = 0; k < 2; k++) {
		snprintf(t[k].url, sizeof(t[k].url), "%s/api/v1/health/live", server.url);
		assert_int_equal(pthread_create(&t[k].thread, NULL, traffic_run, &t[k]), 0);
	}
	harness_sleep_ms(500);
	killed_at = harness_now_ms();
	kill(victim, SIGKILL);
	fresh = wait_new_worker(old, WORKERS, 5000, comm, sizeof(comm));
	if (fresh != 0) {
		fresh_at = harness_now_ms();
		harness_sleep_ms(1500); /* traffic that must all succeed */
	}
	for (k = 0; k < 2; k++) {
		atomic_store(&t[k].stop, 1);
		pthread_join(t[k].thread, NULL);
	}
	if (harness_prom_fetch(server.metrics_url, &p) == 0) {
		harness_prom_sum(&p, "enterprise_worker_restarts_total", NULL, &restarts);
		harness_prom_free(&p);
	}
	for (k = 0; k < 2; k++) {
		for (i = 0; i < t[k].n; i++) {
			total++;
			ok += t[k].samples[i].ok;
			if (fresh_at != 0 && t[k].samples[i].start_ms >= fresh_at) {
				after++;
				after_failed += !t[k].samples[i].ok;
			}
		}
		free(t[k].samples);
	}

	print_message("killed worker-0 %d; new %s %d after %llu ms; %zu/%zu requests ok, "
		      "%zu after the restart (%zu failed)\n",
		      (int)victim, comm, (int)fresh, (unsigned long long)(fresh_at - killed_at), ok,
		      total, after, after_failed);
	if (fresh == 0)
		fail_msg("no new worker within 5 s of kill -9 of worker-0 (%d)", (int)victim);
	assert_true(harness_pid_gone(victim));
	assert_int_equal(harness_child_by_comm(server.proc.pid, "worker-1"), other);
	assert_int_equal(harness_child_by_comm(server.proc.pid, "monitor"), monitor);
	if (restarts < 1)
		fail_msg("enterprise_worker_restarts_total is %.0f, want >= 1", restarts);
	assert_true(total > 0);
	if ((double)ok < 0.95 * (double)total)
		fail_msg("only %zu of %zu requests succeeded", ok, total);
	assert_true(after >= 10);
	if (after_failed != 0)
		fail_msg("%zu of %zu requests after the new worker appeared failed", after_failed,
			 after);
}

/* One slow request on its own connection. */
struct slow {
	pthread_t thread;
	char url[128];
	long status;
	int64_t slept;
	double seconds;
	char error[256];
};

static void *
slow_run(void *arg)
{
	struct slow *s = arg;
	struct harness_http_opts o = {.timeout_ms = 15000};
	struct harness_response r;
	bson_t *doc;

	harness_request("GET", s->url, NULL, NULL, 0, &o, &r);
	s->status = r.status;
	s->seconds = r.seconds;
	s->slept = -1;
	snprintf(s->error, sizeof(s->error), "%s", r.curl_code ? r.error : r.body);
	if ((doc = harness_json(&r)) != NULL) {
		harness_json_int(doc, "sleptMs", &s->slept);
		bson_destroy(doc);
	}
	harness_response_free(&r);
	return NULL;
}

static void
test_sigterm_lets_slow_requests_finish_and_exits_0(void **state)
{
	struct harness_child kids[32];
	struct slow s[4];
	int n, i, waited;
	uint64_t term_at, exit_ms = 0;

	n = harness_children(server.proc.pid, kids, 32);
	assert_true(n >= WORKERS + 1);
	memset(s, 0, sizeof(s));
	for (i = 0; i < 4; i++) {
		snprintf(s[i].url, sizeof(s[i].url), "%s/api/v1/debug/sleep?ms=1500", server.url);
		assert_int_equal(pthread_create(&s[i].thread, NULL, slow_run, &s[i]), 0);
	}
	harness_sleep_ms(300);
	term_at = harness_now_ms();
	kill(server.proc.pid, SIGTERM);
	waited = harness_proc_wait(&server.proc, 15000);
	if (waited == 0)
		exit_ms = harness_now_ms() - term_at;
	for (i = 0; i < 4; i++)
		pthread_join(s[i].thread, NULL);

	for (i = 0; i < 4; i++)
		if (s[i].status != 200 || s[i].slept != 1500)
			fail_msg("slow request %d: status %ld sleptMs %lld after %.2f s: %s", i,
				 s[i].status, (long long)s[i].slept, s[i].seconds, s[i].error);
	if (waited == -1)
		fail_msg("master still running 15 s after SIGTERM");
	print_message("master exited %llu ms after SIGTERM\n", (unsigned long long)exit_ms);
	assert_int_equal(harness_exit_code(server.proc.status), 0);
	for (i = 0; i < n; i++)
		if (!harness_pid_gone(kids[i].pid))
			fail_msg("%s (%d) still running after the master exited", kids[i].comm,
				 (int)kids[i].pid);
	assert_false(harness_port_accepts(server.port));
	assert_false(harness_port_accepts(server.monitor_port));
}

static int
group_setup(void **state)
{
	struct harness_conf c = {
	    .workers = WORKERS, .pidfile = 1, .debug_routes = 1, .worker_shutdown_timeout = 10};

	return client_suite_start(&deps, NULL, &server, "process", &c);
}

static int
group_teardown(void **state)
{
	return client_suite_stop(&deps, NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_pidfile_holds_the_master_pid),
	    cmocka_unit_test(test_master_runs_named_workers_and_one_monitor),
	    cmocka_unit_test(test_killed_worker_is_replaced_under_traffic),
	    cmocka_unit_test(test_sigterm_lets_slow_requests_finish_and_exits_0),
	    cmocka_unit_test(client_test_sanitizer_logs),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
