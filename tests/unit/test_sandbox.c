/*
 * test_sandbox.c: the seccomp allow-lists of sandbox.c, each in a forked child (a filter
 * cannot be removed). The keymgr list runs a stand-in key manager: a poll loop answering over a
 * socketpair, as the real one does with the workers; a new socket kills it, a file open is
 * refused. A worker cannot exec. The children leave with _exit (no sanitizer pass at exit in a
 * filtered child whose parent checks it).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "sandbox.h"

static struct config conf;

static _Atomic int32_t *
shared_slot(void)
{
	void *p = mmap(NULL, sizeof(_Atomic int32_t), PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	assert_true(p != MAP_FAILED);
	return p;
}

/* The stand-in key manager: answers each request byte with a reply byte, until EOF.
 * 'e' echo ('E'), 'o' open a file ('A' when refused with EACCES), 's' open a socket. */
static _Noreturn void
keymgr_loop(int fd)
{
	char req, rep;
	struct pollfd pfd = {fd, POLLIN, 0};

	for (;;) {
		if (poll(&pfd, 1, 5000) <= 0 || read(fd, &req, 1) != 1)
			_exit(0);
		if (req == 'e') {
			rep = 'E';
		} else if (req == 'o') {
			int f = open("/etc/hostname", O_RDONLY);

			rep = f < 0 && errno == EACCES ? 'A' : 'X';
			if (f >= 0)
				close(f);
		} else {
			rep = socket(AF_INET, SOCK_STREAM, 0) >= 0 ? 'S' : 'X';
		}
		if (write(fd, &rep, 1) != 1)
			_exit(1);
	}
}

static pid_t
keymgr_start(int *fd, _Atomic int32_t *report)
{
	int sv[2];
	pid_t pid;
	char err[256];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(sv[0]);
		if (sandbox_enter(SANDBOX_KEYMGR, &conf, report, err, sizeof(err)) != 0) {
			fprintf(stderr, "%s\n", err);
			_exit(3);
		}
		keymgr_loop(sv[1]);
	}
	close(sv[1]);
	*fd = sv[0];
	return pid;
}

static char
ask(int fd, char req)
{
	char rep = 0;

	if (write(fd, &req, 1) != 1 || read(fd, &rep, 1) != 1)
		return 0;
	return rep;
}

static void
test_keymgr_answers_over_its_socketpair_and_cannot_open_files(void **state)
{
	_Atomic int32_t *report = shared_slot();
	int fd, status;
	pid_t pid = keymgr_start(&fd, report);

	(void)state;
	assert_int_equal(ask(fd, 'e'), 'E');
#if defined(__SANITIZE_ADDRESS__)
	assert_int_equal(ask(fd, 'o'), 'X'); /* LeakSanitizer needs open: allowed in this build */
#else
	assert_int_equal(ask(fd, 'o'), 'A');
#endif
	assert_int_equal(ask(fd, 'e'), 'E');
	close(fd);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(atomic_load(report), 0);
	munmap((void *)report, sizeof(*report));
}

static void
test_keymgr_is_killed_by_a_new_socket_and_reports_the_call(void **state)
{
	_Atomic int32_t *report = shared_slot();
	char name[64];
	int fd, status;
	pid_t pid = keymgr_start(&fd, report);

	(void)state;
	assert_int_equal(ask(fd, 'e'), 'E');
	assert_int_equal(ask(fd, 's'), 0); /* no answer: it died */
	close(fd);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGSYS);
	assert_int_equal(atomic_load(report), SYS_socket + 1);
	assert_string_equal(sandbox_syscall_name(atomic_load(report) - 1, name, sizeof(name)),
			    "socket");
	munmap((void *)report, sizeof(*report));
}

static void
test_a_worker_cannot_exec(void **state)
{
	_Atomic int32_t *report = shared_slot();
	char err[256];
	int status;
	pid_t pid = fork();

	(void)state;
	assert_true(pid >= 0);
	if (pid == 0) {
		char *argv[] = {"/bin/true", NULL};

		if (sandbox_enter(SANDBOX_WORKER, &conf, report, err, sizeof(err)) != 0)
			_exit(3);
		execv(argv[0], argv);
		_exit(4);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGSYS);
	assert_int_equal(atomic_load(report), SYS_execve + 1);
	munmap((void *)report, sizeof(*report));
}

/* "1" when /proc/PID/status has `field:\tvalue`. */
static int
status_has(pid_t pid, const char *line)
{
	char path[64], buf[4096];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if ((fd = open(path, O_RDONLY)) < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	return strstr(buf, line) != NULL;
}

static void
test_every_process_gets_no_new_privs_and_no_core(void **state)
{
	char err[256], c;
	int ready[2], hold[2], status;
	struct rlimit rl;
	pid_t pid;

	(void)state;
	assert_int_equal(pipe(ready), 0);
	assert_int_equal(pipe(hold), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(ready[0]);
		close(hold[1]);
		if (sandbox_limits(&conf, err, sizeof(err)) != 0 ||
		    sandbox_enter(SANDBOX_MONITOR, &conf, NULL, err, sizeof(err)) != 0)
			_exit(3);
		if (write(ready[1], "r", 1) != 1)
			_exit(4);
		/* held until the parent has looked */
		_exit(read(hold[0], &c, 1) == 0 ? 0 : 5);
	}
	close(ready[1]);
	close(hold[0]);
	assert_int_equal(read(ready[0], &c, 1), 1);
	assert_true(status_has(pid, "NoNewPrivs:\t1"));
	assert_true(status_has(pid, "Seccomp:\t2"));
	assert_int_equal(prlimit(pid, RLIMIT_CORE, NULL, &rl), 0);
	assert_int_equal(rl.rlim_cur, 0);
	assert_int_equal(prlimit(pid, RLIMIT_NOFILE, NULL, &rl), 0);
	assert_true(rl.rlim_cur >= sandbox_nofile_need(&conf));
	close(hold[1]);
	close(ready[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

static void
test_tracing_lets_a_forbidden_call_through(void **state)
{
	char err[256];
	int status;
	pid_t pid = fork();

	(void)state;
	assert_true(pid >= 0);
	if (pid == 0) {
		struct config traced = conf;
		int s;

		traced.seccomp_tracing = 1;
		if (sandbox_enter(SANDBOX_KEYMGR, &traced, NULL, err, sizeof(err)) != 0)
			_exit(3);
		s = socket(AF_INET, SOCK_STREAM, 0);
		_exit(s >= 0 ? 0 : 4);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* `enterprised -t` names the line of a privsep directive that fails the checks made after
 * parsing (before: only the file). */
static void
test_check_names_the_line_of_a_bad_runas_or_root(void **state)
{
	struct config c;
	char err[CONFIG_ERR_MAX];

	(void)state;
	config_defaults(&c);
	assert_int_equal(config_parse(&c, "test.conf",
				      "workers 1\nprivsep worker {\n\trunas\tno-such-user-unit\n}\n",
				      err, sizeof(err)),
			 0);
	assert_int_equal(sandbox_check(&c, err, sizeof(err)), -1);
	if (strstr(err, "test.conf:3: privsep worker: runas user") == NULL)
		fail_msg("%s", err);
	config_defaults(&c);
	assert_int_equal(config_parse(&c, "test.conf",
				      "privsep monitor {\n\n\troot\t/etc/passwd\n}\n", err,
				      sizeof(err)),
			 0);
	assert_int_equal(sandbox_check(&c, err, sizeof(err)), -1);
	if (strstr(err, "test.conf:3: privsep monitor: root /etc/passwd") == NULL)
		fail_msg("%s", err);
}

static int
setup(void **state)
{
	(void)state;
	config_defaults(&conf);
	conf.seccomp = 1;
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_keymgr_answers_over_its_socketpair_and_cannot_open_files),
	    cmocka_unit_test(test_keymgr_is_killed_by_a_new_socket_and_reports_the_call),
	    cmocka_unit_test(test_a_worker_cannot_exec),
	    cmocka_unit_test(test_every_process_gets_no_new_privs_and_no_core),
	    cmocka_unit_test(test_tracing_lets_a_forbidden_call_through),
	    cmocka_unit_test(test_check_names_the_line_of_a_bad_runas_or_root),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
