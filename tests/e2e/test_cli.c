/*
 * test_cli.c: the command line and start-up failures of enterprised.
 *
 * `-t -c FILE` checks a configuration; every configuration error is "FILE:LINE: what" on
 * stderr and exit code 2, with or without -t, before anything is bound. The runs without -t
 * hold the configured port themselves: a server that bound (or tried to) before finding the
 * error would report the busy port and exit 1 instead of 2.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "client.h"
#include "harness.h"

#define RUN_TIMEOUT_MS 10000

/* Number of lines of a file: the generated config's `extra` is its last line. */
static int
count_lines(const char *path)
{
	char *data = harness_read_file(path, NULL), *p;
	int n = 0;

	assert_non_null(data);
	for (p = data; *p != '\0'; p++)
		n += *p == '\n';
	free(data);
	return n;
}

struct run {
	int code;
	char *out;
	char *err;
};

static void
run_free(struct run *r)
{
	free(r->out);
	free(r->err);
}

/* enterprised [-t] -c path; with hold_port, the port stays busy during the run. */
static void
run_enterprised(struct run *r, int check, const char *path, int hold_port)
{
	char *args_t[] = {"-t", "-c", (char *)path, NULL};
	char *args[] = {"-c", (char *)path, NULL};
	int fd = -1, status;

	if (hold_port > 0) {
		fd = harness_listen(hold_port);
		assert_true(fd >= 0);
	}
	status = harness_server_run(check ? args_t : args, NULL, RUN_TIMEOUT_MS, &r->out, &r->err);
	if (fd >= 0)
		close(fd);
	if (status == -1)
		fail_msg("enterprised %s-c %s did not exit within %d ms", check ? "-t " : "", path,
			 RUN_TIMEOUT_MS);
	r->code = harness_exit_code(status);
}

static void
assert_config_error(struct run *r, const char *path, int line)
{
	char want[PATH_MAX + 32];

	if (line > 0)
		snprintf(want, sizeof(want), "%s:%d:", path, line);
	else
		snprintf(want, sizeof(want), "%s", path);
	if (r->code != 2)
		fail_msg("exit code %d, want 2; stderr:\n%s", r->code, r->err);
	if (strstr(r->err, want) == NULL)
		fail_msg("stderr does not name \"%s\":\n%s", want, r->err);
}

/* A config whose last line is `extra`; returns its line number. */
static int
write_conf(struct harness_server *s, const char *name, const char *extra)
{
	struct harness_conf c = {.extra = extra};

	assert_int_equal(harness_conf_write(s, name, &c), 0);
	return extra != NULL ? count_lines(s->conf_path) : 0;
}

static void
test_check_accepts_good_config(void **state)
{
	struct harness_server s;
	struct run r;

	write_conf(&s, "good", NULL);
	run_enterprised(&r, 1, s.conf_path, 0);
	if (r.code != 0)
		fail_msg("exit code %d, want 0; stderr:\n%s", r.code, r.err);
	assert_true(strlen(r.out) + strlen(r.err) > 0);
	run_free(&r);
}

static void
test_check_binds_nothing(void **state)
{
	struct harness_server s;
	struct run r;

	/* -t on a good config whose port is busy: still 0, since nothing is bound */
	write_conf(&s, "good-busy", NULL);
	run_enterprised(&r, 1, s.conf_path, s.port);
	if (r.code != 0)
		fail_msg("exit code %d, want 0; stderr:\n%s", r.code, r.err);
	run_free(&r);
}

static void
test_check_reports_line_of_unknown_directive(void **state)
{
	struct harness_server s;
	struct run r;
	int line = write_conf(&s, "unknown", "frobnicate\t\tyes");

	run_enterprised(&r, 1, s.conf_path, 0);
	assert_config_error(&r, s.conf_path, line);
	run_free(&r);
}

static void
test_check_reports_line_of_bad_value(void **state)
{
	struct harness_server s;
	struct run r;
	int line = write_conf(&s, "badvalue", "http_keepalive_time\tsoon");

	run_enterprised(&r, 1, s.conf_path, 0);
	assert_config_error(&r, s.conf_path, line);
	run_free(&r);
}

static void
test_check_reports_line_of_bad_value_inside_block(void **state)
{
	struct harness_server s;
	struct run r;
	int line = write_conf(&s, "badblock", "redis {\n\tconnect_timeout\tfast\n}") - 1;

	run_enterprised(&r, 1, s.conf_path, 0);
	assert_config_error(&r, s.conf_path, line);
	run_free(&r);
}

static void
test_check_reports_missing_file(void **state)
{
	char path[PATH_MAX];
	struct run r;

	snprintf(path, sizeof(path), "%s/does-not-exist.conf", harness_dir());
	run_enterprised(&r, 1, path, 0);
	assert_config_error(&r, path, 0);
	run_free(&r);
}

static void
test_check_reports_missing_certificate(void **state)
{
	char cert[PATH_MAX];
	struct harness_server s;
	struct harness_conf c = {0};
	struct run r;

	snprintf(cert, sizeof(cert), "%s/no-such-cert.pem", harness_dir());
	c.certfile = cert;
	assert_int_equal(harness_conf_write(&s, "nocert", &c), 0);
	run_enterprised(&r, 1, s.conf_path, 0);
	assert_config_error(&r, cert, 0);
	run_free(&r);
}

static void
test_check_reports_missing_key(void **state)
{
	char key[PATH_MAX];
	struct harness_server s;
	struct harness_conf c = {0};
	struct run r;

	snprintf(key, sizeof(key), "%s/no-such-key.pem", harness_dir());
	c.certkey = key;
	assert_int_equal(harness_conf_write(&s, "nokey", &c), 0);
	run_enterprised(&r, 1, s.conf_path, 0);
	assert_config_error(&r, key, 0);
	run_free(&r);
}

static void
test_start_rejects_unknown_directive_before_binding(void **state)
{
	struct harness_server s;
	struct run r;
	int line = write_conf(&s, "start-unknown", "frobnicate\t\tyes");

	run_enterprised(&r, 0, s.conf_path, s.port);
	assert_config_error(&r, s.conf_path, line);
	run_free(&r);
}

static void
test_start_rejects_bad_value_before_binding(void **state)
{
	struct harness_server s;
	struct run r;
	int line = write_conf(&s, "start-badvalue", "workers\t\t\t-3");

	run_enterprised(&r, 0, s.conf_path, s.port);
	assert_config_error(&r, s.conf_path, line);
	run_free(&r);
}

static void
test_start_rejects_missing_file(void **state)
{
	char path[PATH_MAX];
	struct run r;

	snprintf(path, sizeof(path), "%s/does-not-exist.conf", harness_dir());
	run_enterprised(&r, 0, path, 0);
	assert_config_error(&r, path, 0);
	run_free(&r);
}

static void
test_start_rejects_missing_certificate_before_binding(void **state)
{
	char cert[PATH_MAX];
	struct harness_server s;
	struct harness_conf c = {0};
	struct run r;

	snprintf(cert, sizeof(cert), "%s/no-such-cert.pem", harness_dir());
	c.certfile = cert;
	assert_int_equal(harness_conf_write(&s, "start-nocert", &c), 0);
	run_enterprised(&r, 0, s.conf_path, s.port);
	assert_config_error(&r, cert, 0);
	run_free(&r);
}

static void
test_start_fails_with_1_when_port_in_use(void **state)
{
	struct harness_server s;
	char port[16];
	struct run r;

	write_conf(&s, "busy", NULL);
	run_enterprised(&r, 0, s.conf_path, s.port);
	snprintf(port, sizeof(port), "%d", s.port);
	if (r.code != 1)
		fail_msg("exit code %d, want 1; stderr:\n%s", r.code, r.err);
	if (strstr(r.err, port) == NULL)
		fail_msg("stderr does not mention port %s:\n%s", port, r.err);
	run_free(&r);
}

static int
group_setup(void **state)
{
	return harness_init();
}

static int
group_teardown(void **state)
{
	harness_cleanup();
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_check_accepts_good_config),
	    cmocka_unit_test(test_check_binds_nothing),
	    cmocka_unit_test(test_check_reports_line_of_unknown_directive),
	    cmocka_unit_test(test_check_reports_line_of_bad_value),
	    cmocka_unit_test(test_check_reports_line_of_bad_value_inside_block),
	    cmocka_unit_test(test_check_reports_missing_file),
	    cmocka_unit_test(test_check_reports_missing_certificate),
	    cmocka_unit_test(test_check_reports_missing_key),
	    cmocka_unit_test(test_start_rejects_unknown_directive_before_binding),
	    cmocka_unit_test(test_start_rejects_bad_value_before_binding),
	    cmocka_unit_test(test_start_rejects_missing_file),
	    cmocka_unit_test(test_start_rejects_missing_certificate_before_binding),
	    cmocka_unit_test(test_start_fails_with_1_when_port_in_use),
	    cmocka_unit_test(client_test_sanitizer_logs),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
