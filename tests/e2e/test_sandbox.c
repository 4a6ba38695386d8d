/*
 * test_sandbox.c: issue 12 seen from outside. Every process runs with no_new_privs and its
 * seccomp filter; as root (tools/sandbox-user present) workers and the monitor run as the test
 * user in an empty chroot. A call outside the worker's allow-list (the debug route) kills that
 * worker only: the master logs the call's name, counts it in /metrics and restarts it, and
 * other requests are answered. seccomp_tracing lets the call through. -t refuses a runas user
 * that does not exist and a root that is not a directory.
 *
 * The provoked violation leaves "seccomp: forbidden system call" in the server's log, which
 * client_test_sanitizer_logs counts as a failure, so this file checks its logs itself.
 */
#include <pwd.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "client.h"
#include "harness.h"

#define WORKERS 2
#define VIOLATIONS "enterprise_seccomp_violations_total"

static struct harness_deps deps;
static struct harness_server server;
static struct harness_server tracing;

static double
prom_value(const struct harness_server *s, const char *name, const char *labels)
{
	struct harness_prom p;
	double v;

	if (harness_prom_fetch(s->metrics_url, &p) == -1)
		fail_msg("%s: %s", s->metrics_url, p.error);
	if (harness_prom_sum(&p, name, labels, &v) == 0)
		v = -1; /* absent */
	harness_prom_free(&p);
	return v;
}

/* The value of `field:` in /proc/PID/status, first word; "" when absent. */
static void
proc_status(pid_t pid, const char *field, char *out, size_t outlen)
{
	char path[64], *text, *at;
	size_t n;

	out[0] = '\0';
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if ((text = harness_read_file(path, NULL)) == NULL)
		return;
	if ((at = strstr(text, field)) != NULL) {
		at += strlen(field);
		at += strspn(at, ":\t ");
		n = strcspn(at, "\t \n");
		snprintf(out, outlen, "%.*s", (int)(n < outlen ? n : outlen - 1), at);
	}
	free(text);
}

static int
count_workers(pid_t master, pid_t *pids, int max)
{
	struct harness_child kids[32];
	int n = harness_children(master, kids, 32), i, w = 0;

	for (i = 0; i < n; i++)
		if (strncmp(kids[i].comm, "worker-", 7) == 0 && w < max)
			pids[w++] = kids[i].pid;
	return w;
}

static void
expect_confined(pid_t pid, const char *who, int dropped)
{
	char v[64], root[PATH_MAX], want[PATH_MAX + 16], link[64];
	struct passwd *pw;
	ssize_t n;

	proc_status(pid, "NoNewPrivs", v, sizeof(v));
	if (strcmp(v, "1") != 0)
		fail_msg("%s %d: NoNewPrivs %s", who, (int)pid, v);
	proc_status(pid, "Seccomp", v, sizeof(v));
	if (strcmp(v, "2") != 0) /* SECCOMP_MODE_FILTER */
		fail_msg("%s %d: Seccomp %s, not 2 (filter)", who, (int)pid, v);
	if (!dropped)
		return;
	pw = getpwnam(HARNESS_SANDBOX_USER);
	assert_non_null(pw);
	proc_status(pid, "Uid", v, sizeof(v));
	if (atoi(v) != (int)pw->pw_uid)
		fail_msg("%s %d: uid %s, not %s's %d", who, (int)pid, v, HARNESS_SANDBOX_USER,
			 (int)pw->pw_uid);
	snprintf(link, sizeof(link), "/proc/%d/root", (int)pid);
	if ((n = readlink(link, root, sizeof(root) - 1)) < 0)
		fail_msg("%s: cannot read", link);
	root[n] = '\0';
	/* built with AddressSanitizer the chroot is skipped (LeakSanitizer reads /proc) */
	if (getenv("ASAN_OPTIONS") != NULL)
		snprintf(want, sizeof(want), "/");
	else
		snprintf(want, sizeof(want), "%s/chroot", harness_dir());
	if (strcmp(root, want) != 0)
		fail_msg("%s %d: root %s, not %s", who, (int)pid, root, want);
}

static void
test_every_process_runs_under_its_filter_and_workers_drop_root(void **state)
{
	pid_t pids[8], monitor;
	int n = count_workers(server.proc.pid, pids, 8), i;

	(void)state;
	assert_int_equal(n, WORKERS);
	expect_confined(server.proc.pid, "master", 0);
	for (i = 0; i < n; i++)
		expect_confined(pids[i], "worker", harness_privsep_on());
	monitor = harness_child_by_comm(server.proc.pid, "monitor");
	assert_true(monitor > 0);
	expect_confined(monitor, "monitor", harness_privsep_on());
}

static int
log_has(const struct harness_server *s, const char *needle)
{
	char *text = harness_read_file(s->proc.err_path, NULL);
	int found = text != NULL && strstr(text, needle) != NULL;

	free(text);
	return found;
}

static void
test_a_forbidden_call_kills_one_worker_counted_and_replaced(void **state)
{
	struct harness_response r;
	char url[128];
	pid_t before[8], after[8];
	double restarts = prom_value(&server, "enterprise_worker_restarts_total", NULL);
	int i, n, replaced = 0, ok = 0;
	uint64_t deadline;

	(void)state;
	assert_int_equal(prom_value(&server, VIOLATIONS, "process=\"worker\""), 0);
	assert_int_equal(count_workers(server.proc.pid, before, 8), WORKERS);

	/* the worker dies with the request: no answer */
	snprintf(url, sizeof(url), "%s/api/v1/debug/seccomp", server.url);
	assert_int_not_equal(harness_request("POST", url, NULL, "", 0, NULL, &r), 0);
	harness_response_free(&r);

	deadline = harness_now_ms() + 15000;
	while (prom_value(&server, VIOLATIONS, "process=\"worker\"") < 1 &&
	       harness_now_ms() < deadline)
		harness_sleep_ms(100);
	assert_int_equal(prom_value(&server, VIOLATIONS, "process=\"worker\""), 1);
	assert_int_equal(prom_value(&server, VIOLATIONS, "process=\"monitor\""), 0);
	if (!log_has(&server, "was killed by seccomp: system call personality"))
		fail_msg("the master did not log the call's name");

	/* the other worker (and the replacement) answer everything meanwhile */
	snprintf(url, sizeof(url), "%s/api/v1/health/live", server.url);
	for (i = 0; i < 20; i++) {
		if (harness_get(url, &r) == 0 && r.status == 200)
			ok++;
		harness_response_free(&r);
	}
	assert_int_equal(ok, 20);

	/* replaced: two workers again, one of them new */
	deadline = harness_now_ms() + 15000;
	while (!replaced && harness_now_ms() < deadline) {
		n = count_workers(server.proc.pid, after, 8);
		for (i = 0; n == WORKERS && i < n; i++)
			if (after[i] != before[0] && after[i] != before[1])
				replaced = 1;
		if (!replaced)
			harness_sleep_ms(100);
	}
	assert_true(replaced);
	assert_true(prom_value(&server, "enterprise_worker_restarts_total", NULL) >= restarts + 1);
}

static void
test_seccomp_tracing_lets_the_call_through(void **state)
{
	struct harness_conf c = {.workers = 1, .debug_routes = 1, .extra = "seccomp_tracing yes"};
	struct harness_response r;
	char url[128];

	(void)state;
	assert_int_equal(harness_server_start(&tracing, "tracing", &c, &deps), 0);
	snprintf(url, sizeof(url), "%s/api/v1/debug/seccomp", tracing.url);
	assert_int_equal(harness_request("POST", url, NULL, "", 0, NULL, &r), 0);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.body, "\"survived\":true"));
	harness_response_free(&r);
	assert_int_equal(prom_value(&tracing, VIOLATIONS, NULL), 0);
	harness_server_stop(&tracing);
}

/* `enterprised -t` on a configuration with `extra`: exit 2 and `want` on stderr. */
static void
expect_check_refuses(const char *name, const char *extra, const char *want)
{
	struct harness_conf c = {.no_privsep = 1, .extra = extra};
	struct harness_server s;
	char *args[] = {"-t", "-c", NULL, NULL}, *out = NULL, *err = NULL;
	int status;

	assert_int_equal(harness_conf_write(&s, name, &c), 0);
	args[2] = s.conf_path;
	status = harness_server_run(args, &deps, 15000, &out, &err);
	assert_int_equal(harness_exit_code(status), 2);
	if (err == NULL || strstr(err, want) == NULL)
		fail_msg("stderr of -t: %s (wanted %s)", err != NULL ? err : "(none)", want);
	free(out);
	free(err);
}

static void
test_check_refuses_a_runas_user_that_does_not_exist(void **state)
{
	(void)state;
	expect_check_refuses("no-user", "privsep worker {\n\trunas\tno-such-user-e2e\n}",
			     "runas user 'no-such-user-e2e' does not exist");
}

static void
test_check_refuses_runas_root(void **state)
{
	(void)state;
	/* every block, the keymgr's included: uid 0 undoes the separation */
	expect_check_refuses("runas-root", "privsep keymgr {\n\trunas\troot\n}",
			     "runas user 'root' is root (uid 0)");
}

static void
test_check_refuses_a_root_that_is_not_a_directory(void **state)
{
	char extra[PATH_MAX + 64];

	(void)state;
	snprintf(extra, sizeof(extra), "privsep monitor {\n\troot\t%s\n}", harness_cert_path());
	expect_check_refuses("no-root", extra, "is not a directory");
}

/* -n and -r (Kore's development flags) lift the chroot and the runas of every block. */
static void
test_check_with_n_and_r_ignores_root_and_runas(void **state)
{
	char extra[PATH_MAX + 128];
	struct harness_conf c = {.no_privsep = 1, .extra = extra};
	struct harness_server s;
	char *args[] = {"-t", "-n", "-r", "-c", NULL, NULL}, *out = NULL, *err = NULL;
	int status;

	(void)state;
	snprintf(extra, sizeof(extra), "privsep worker {\n\trunas\tno-such-user-e2e\n\troot\t%s\n}",
		 harness_cert_path());
	assert_int_equal(harness_conf_write(&s, "flags", &c), 0);
	args[4] = s.conf_path;
	status = harness_server_run(args, &deps, 15000, &out, &err);
	if (harness_exit_code(status) != 0)
		fail_msg("-t -n -r exited %d: %s", harness_exit_code(status),
			 err != NULL ? err : "");
	args[1] = "-n"; /* -n alone: the runas user is still checked */
	args[2] = "-t";
	free(out);
	free(err);
	status = harness_server_run(args, &deps, 15000, &out, &err);
	assert_int_equal(harness_exit_code(status), 2);
	assert_non_null(err);
	assert_non_null(strstr(err, "does not exist"));
	free(out);
	free(err);
}

/* Sanitizer reports anywhere; the seccomp line only where the test provoked it. */
static void
test_logs_hold_no_report_but_the_provoked_one(void **state)
{
	static const char *const needles[] = {"ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
					      "runtime error:", NULL};
	const struct harness_server *all[] = {&server, &tracing};
	int i, k;

	(void)state;
	harness_server_stop(&server);
	for (i = 0; i < 2; i++) {
		for (k = 0; needles[k] != NULL; k++)
			if (log_has(all[i], needles[k]))
				fail_msg("%s: %s", all[i]->proc.err_path, needles[k]);
	}
	if (log_has(&tracing, "seccomp: forbidden system call"))
		fail_msg("tracing mode killed a process");
}

static int
group_setup(void **state)
{
	struct harness_conf c = {.workers = WORKERS, .debug_routes = 1};

	return client_suite_start(&deps, NULL, &server, "sandbox", &c);
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
	    cmocka_unit_test(test_every_process_runs_under_its_filter_and_workers_drop_root),
	    cmocka_unit_test(test_a_forbidden_call_kills_one_worker_counted_and_replaced),
	    cmocka_unit_test(test_seccomp_tracing_lets_the_call_through),
	    cmocka_unit_test(test_check_refuses_a_runas_user_that_does_not_exist),
	    cmocka_unit_test(test_check_refuses_runas_root),
	    cmocka_unit_test(test_check_refuses_a_root_that_is_not_a_directory),
	    cmocka_unit_test(test_check_with_n_and_r_ignores_root_and_runas),
	    cmocka_unit_test(test_logs_hold_no_report_but_the_provoked_one),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
