/*
 * test_keymgr.c: the key manager (issue 12). With the keymgr on (the default) TLS 1.2
 * (PKCS#1 and PSS signatures) and TLS 1.3 handshakes work with an RSA certificate, and after a
 * SIGHUP to an ECDSA one with the new key; a worker's memory holds no byte string of the
 * private key while a `keymgr off` server's worker does (so the scan can fail); the keymgr is
 * not dumpable and has no core limit while a worker is dumpable; a stopped keymgr fails
 * handshakes within its timeout (counted) instead of hanging workers; a killed one is
 * restarted and handshakes work again (counted).
 *
 * The tests run in order on one server, each from the state the previous one left. openssl
 * s_client does the handshakes, so the signature algorithm can be chosen; it fails when the
 * server's signature does not verify.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "client.h"
#include "harness.h"

#define WORKERS 2
#define WAIT_MS 20000

static struct harness_server server;
static char rsa_cert[PATH_MAX], rsa_key[PATH_MAX];   /* made here: the harness's is EC */
static char ec_cert[PATH_MAX], ec_key[PATH_MAX];     /* the harness's, copied */
static char cert_path[PATH_MAX], key_path[PATH_MAX]; /* what the server is told to use */

/* 1 when `openssl s_client` with args completes a handshake with port. */
static int
handshake(int port, const char *args)
{
	char cmd[512];
	int st;

	snprintf(cmd, sizeof(cmd),
		 "openssl s_client -connect 127.0.0.1:%d -servername localhost %s "
		 "</dev/null >/dev/null 2>&1",
		 port, args);
	st = system(cmd);
	return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

/* Retries a handshake until it works (WAIT_MS); 1 when it did. */
static int
handshake_soon(int port, const char *args)
{
	uint64_t deadline = harness_now_ms() + WAIT_MS;

	while (harness_now_ms() < deadline) {
		if (handshake(port, args))
			return 1;
		harness_sleep_ms(100);
	}
	return 0;
}

static double
metric(const char *name)
{
	struct harness_prom p;
	double v = -1;

	if (harness_prom_fetch(server.metrics_url, &p) == -1)
		fail_msg("GET %s failed", server.metrics_url);
	if (harness_prom_sum(&p, name, NULL, &v) == 0)
		fail_msg("no %s in /metrics", name);
	harness_prom_free(&p);
	return v;
}

static pid_t
child(const struct harness_server *s, const char *comm)
{
	pid_t pid = harness_child_by_comm(s->proc.pid, comm);

	if (pid == 0)
		fail_msg("no child named %s", comm);
	return pid;
}

/*
 * The private number of the key in path as the process would hold it: big-endian (DER, PEM)
 * in be, and as BIGNUM limbs (little-endian on this machine) in le; n bytes each (at most
 * 32: enough to be unique).
 */
static void
secret_of(const char *path, uint8_t *be, uint8_t *le, size_t *n)
{
	uint8_t buf[1024];
	FILE *f = fopen(path, "r");
	EVP_PKEY *k = f != NULL ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : NULL;
	BIGNUM *d = NULL;
	int len, i;

	if (f != NULL)
		fclose(f);
	assert_non_null(k);
	if (EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_RSA_D, &d) != 1)
		assert_int_equal(EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_PRIV_KEY, &d), 1);
	len = BN_bn2bin(d, buf);
	assert_true(len >= 32);
	*n = 32;
	memcpy(be, buf, 32);
	for (i = 0; i < 32; i++)
		le[i] = buf[len - 1 - i];
	BN_clear_free(d);
	EVP_PKEY_free(k);
}

/* 1 when a readable mapping of pid (below 1 GiB each) holds a or b (n bytes). */
static int
memory_holds(pid_t pid, const uint8_t *a, const uint8_t *b, size_t n)
{
	char path[64], line[512], perms[8];
	unsigned long lo, hi, off;
	static uint8_t chunk[1 << 20];
	int found = 0, fd;
	FILE *maps;
	ssize_t got;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	maps = fopen(path, "r");
	snprintf(path, sizeof(path), "/proc/%d/mem", (int)pid);
	fd = open(path, O_RDONLY);
	assert_non_null(maps);
	assert_true(fd >= 0);
	while (!found && fgets(line, sizeof(line), maps) != NULL) {
		if (sscanf(line, "%lx-%lx %7s", &lo, &hi, perms) != 3 || perms[0] != 'r' ||
		    hi - lo > (1ul << 30) || strstr(line, "[vvar") != NULL ||
		    strstr(line, "[vsyscall]") != NULL)
			continue;
		for (off = lo; !found && off < hi; off += sizeof(chunk) - n) {
			size_t want = hi - off < sizeof(chunk) ? hi - off : sizeof(chunk);

			if ((got = pread(fd, chunk, want, (off_t)off)) <= 0)
				break;
			found = memmem(chunk, (size_t)got, a, n) != NULL ||
				memmem(chunk, (size_t)got, b, n) != NULL;
			if ((size_t)got < want)
				break;
		}
	}
	fclose(maps);
	close(fd);
	return found;
}

/* 1 when pid has the key file open. */
static int
has_open(pid_t pid, const char *file)
{
	char dir[64], link[PATH_MAX + 80], target[PATH_MAX];
	ssize_t n;
	int fd, open_ = 0;

	snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
	for (fd = 0; fd < 1024; fd++) {
		snprintf(link, sizeof(link), "%s/%d", dir, fd);
		if ((n = readlink(link, target, sizeof(target) - 1)) <= 0)
			continue;
		target[n] = '\0';
		open_ |= strcmp(target, file) == 0;
	}
	return open_;
}

static void
check_key_not_in_workers(const char *keyfile)
{
	uint8_t be[32], le[32];
	size_t n;
	char name[32];
	int i;

	secret_of(keyfile, be, le, &n);
	for (i = 0; i < WORKERS; i++) {
		pid_t w;

		snprintf(name, sizeof(name), "worker-%d", i);
		w = child(&server, name);
		assert_false(has_open(w, keyfile));
		if (memory_holds(w, be, le, n))
			fail_msg("%s (pid %d) holds the private key", name, (int)w);
	}
	/* the master never read it either */
	assert_false(memory_holds(server.proc.pid, be, le, n));
}

static void
test_rsa_handshakes_tls12_pkcs1_pss_and_tls13(void **state)
{
	struct harness_response r;
	char url[128];

	assert_true(handshake(server.port, "-tls1_2 -sigalgs RSA+SHA256"));
	assert_true(handshake(server.port, "-tls1_2 -sigalgs rsa_pss_rsae_sha256"));
	assert_true(handshake(server.port, "-tls1_3"));
	/* an ECDSA-only client cannot agree with an RSA certificate: the checks can fail */
	assert_false(handshake(server.port, "-tls1_3 -sigalgs ecdsa_secp256r1_sha256"));
	snprintf(url, sizeof(url), "%s/api/v1/health/live", server.url);
	memset(&r, 0, sizeof(r));
	assert_int_equal(harness_get(url, &r), 0);
	assert_int_equal(r.status, 200);
	harness_response_free(&r);
}

static void
test_worker_memory_holds_no_key_but_does_with_keymgr_off(void **state)
{
	struct harness_conf c = {
	    .workers = 1, .certfile = cert_path, .certkey = key_path, .extra = "keymgr off"};
	static struct harness_server off; /* the harness keeps a pointer to it */
	uint8_t be[32], le[32];
	size_t n;

	check_key_not_in_workers(key_path);
	/* the same scan finds it in a worker that holds the key */
	memset(&off, 0, sizeof(off));
	assert_int_equal(harness_server_start(&off, "keymgr-off", &c, NULL), 0);
	assert_true(handshake(off.port, "-tls1_2 -sigalgs RSA+SHA256"));
	assert_int_equal(harness_child_by_comm(off.proc.pid, "keymgr"), 0);
	secret_of(key_path, be, le, &n);
	assert_true(memory_holds(child(&off, "worker-0"), be, le, n));
	harness_server_stop(&off);
}

/*
 * Reads one byte of pid's memory with process_vm_readv from a child that is root without
 * CAP_SYS_PTRACE in its effective set: the kernel then refuses a process that is not
 * dumpable (and only that: the permitted sets still compare equal). 1 when it read.
 */
static int
readable_without_ptrace_cap(pid_t pid)
{
	char path[64], line[256];
	unsigned long lo = 0;
	FILE *maps;
	pid_t c;
	int st;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	assert_non_null(maps = fopen(path, "r"));
	while (fgets(line, sizeof(line), maps) != NULL)
		if (strstr(line, " r") != NULL && sscanf(line, "%lx-", &lo) == 1)
			break;
	fclose(maps);
	assert_true(lo != 0);
	if ((c = fork()) == 0) {
		struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
		struct __user_cap_data_struct d[2];
		char byte;
		struct iovec local = {&byte, 1}, remote = {(void *)lo, 1};

		if (syscall(SYS_capget, &h, d) != 0)
			_exit(3);
		d[0].effective &= ~(1u << CAP_SYS_PTRACE);
		if (syscall(SYS_capset, &h, d) != 0)
			_exit(3);
		_exit(process_vm_readv(pid, &local, 1, &remote, 1, 0) == 1 ? 0
		      : errno == EPERM					   ? 1
									   : 2);
	}
	assert_int_equal(waitpid(c, &st, 0), c);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) <= 1);
	return WEXITSTATUS(st) == 0;
}

static void
test_keymgr_is_not_dumpable_and_has_no_core(void **state)
{
	pid_t km = child(&server, "keymgr");
	char path[64], *limits, *line, soft[16] = "", hard[16] = "";

	pid_t plain;
	int st;

	assert_false(readable_without_ptrace_cap(km));
	/* the check can succeed: a dumpable process of this user is readable. (Workers are not
	 * dumpable either since the sandbox of issue 12, nor of this user under privsep.) */
	if ((plain = fork()) == 0) {
		pause();
		_exit(0);
	}
	assert_true(plain > 0);
	assert_true(readable_without_ptrace_cap(plain));
	kill(plain, SIGKILL);
	assert_int_equal(waitpid(plain, &st, 0), plain);
	snprintf(path, sizeof(path), "/proc/%d/limits", (int)km);
	assert_non_null(limits = harness_read_file(path, NULL));
	assert_non_null(line = strstr(limits, "Max core file size"));
	if (sscanf(line, "Max core file size %15s %15s", soft, hard) != 2 ||
	    strcmp(soft, "0") != 0 || strcmp(hard, "0") != 0)
		fail_msg("keymgr core limit: %.80s", line);
	free(limits);
}

/* 1 when the socket of that inode is a unix socket (listed in /proc/net/unix). */
static int
is_unix_socket(const char *unix_table, unsigned long inode)
{
	char needle[32];
	const char *p = unix_table;

	snprintf(needle, sizeof(needle), " %lu", inode);
	while ((p = strstr(p, needle)) != NULL) {
		p += strlen(needle);
		if (*p == ' ' || *p == '\n')
			return 1;
	}
	return 0;
}

/* Beyond stdin/stdout/stderr the keymgr holds its WORKERS unix sockets and nothing else: no
 * listener, no other generation's socket, no file. */
static void
test_keymgr_holds_only_its_worker_sockets(void **state)
{
	char link[96], target[256], *table;
	pid_t km = child(&server, "keymgr");
	int fd, sockets = 0, others = 0;
	unsigned long inode;
	ssize_t n;

	assert_non_null(table = harness_read_file("/proc/net/unix", NULL));
	for (fd = 3; fd < 1024; fd++) {
		snprintf(link, sizeof(link), "/proc/%d/fd/%d", (int)km, fd);
		if ((n = readlink(link, target, sizeof(target) - 1)) <= 0)
			continue;
		target[n] = '\0';
		if (sscanf(target, "socket:[%lu]", &inode) == 1 && is_unix_socket(table, inode))
			sockets++;
		else
			others++;
	}
	free(table);
	assert_int_equal(others, 0);
	assert_int_equal(sockets, WORKERS);
}

static void
test_stopped_keymgr_fails_handshakes_in_time_and_counts(void **state)
{
	pid_t km = child(&server, "keymgr");
	double before = metric("enterprise_keymgr_failures_total");
	uint64_t t0;

	assert_int_equal(kill(km, SIGSTOP), 0);
	t0 = harness_now_ms();
	assert_false(handshake(server.port, "-tls1_3"));
	/* well under the 20 s a hung worker would take; the keymgr's timeout is 500 ms */
	assert_true(harness_now_ms() - t0 < 10000);
	assert_int_equal(kill(km, SIGCONT), 0);
	assert_true(metric("enterprise_keymgr_failures_total") >= before + 1);
	assert_true(handshake_soon(server.port, "-tls1_3"));
}

static void
test_killed_keymgr_is_restarted_and_handshakes_resume(void **state)
{
	pid_t km = child(&server, "keymgr"), now = 0;
	double before = metric("enterprise_keymgr_restarts_total");
	uint64_t deadline;

	assert_int_equal(kill(km, SIGKILL), 0);
	deadline = harness_now_ms() + WAIT_MS;
	while (harness_now_ms() < deadline) {
		now = harness_child_by_comm(server.proc.pid, "keymgr");
		if (now != 0 && now != km)
			break;
		harness_sleep_ms(50);
	}
	if (now == 0 || now == km)
		fail_msg("no new keymgr after %d ms", WAIT_MS);
	/* each worker may still be in the quiet window of its own timeout: retry, both ways */
	assert_true(handshake_soon(server.port, "-tls1_2 -sigalgs RSA+SHA256"));
	assert_true(handshake_soon(server.port, "-tls1_3"));
	assert_true(metric("enterprise_keymgr_restarts_total") >= before + 1);
}

static int
copy_file(const char *from, const char *to)
{
	size_t len;
	char *text = harness_read_file(from, &len);
	FILE *f;
	int rc = -1;

	if (text != NULL && (f = fopen(to, "w")) != NULL) {
		rc = fwrite(text, 1, len, f) == len ? 0 : -1;
		rc |= fclose(f);
	}
	free(text);
	return rc;
}

static void
test_reload_to_an_ecdsa_certificate_serves_it(void **state)
{
	pid_t km = child(&server, "keymgr");

	assert_int_equal(copy_file(ec_cert, cert_path), 0);
	assert_int_equal(copy_file(ec_key, key_path), 0);
	assert_int_equal(kill(server.proc.pid, SIGHUP), 0);
	/* the new generation has a keymgr of its own; the old one leaves after its workers, so
	 * from then on every connection reaches a worker of the new generation */
	for (uint64_t deadline = harness_now_ms() + WAIT_MS; harness_now_ms() < deadline;) {
		if (harness_pid_gone(km))
			break;
		harness_sleep_ms(50);
	}
	assert_true(harness_pid_gone(km));
	assert_true(child(&server, "keymgr") != km);
	assert_true(handshake_soon(server.port, "-tls1_3 -sigalgs ecdsa_secp256r1_sha256"));
	assert_true(handshake(server.port, "-tls1_2 -sigalgs ECDSA+SHA256"));
	assert_true(handshake(server.port, "-tls1_3"));
	/* and the RSA certificate is gone with it */
	assert_false(handshake(server.port, "-tls1_3 -sigalgs rsa_pss_rsae_sha256"));
	check_key_not_in_workers(key_path);
}

/* A certkey that is not the certificate's stops start-up: exit 2, the keymgr's reason on
 * stderr, nothing left running (the master checks before it forks any worker). */
static void
test_start_with_a_key_that_does_not_match_exits_2(void **state)
{
	struct harness_conf c = {.workers = 1, .certfile = rsa_cert, .certkey = ec_key};
	static struct harness_server bad;
	char *args[4], *out = NULL, *err = NULL;
	int status;

	memset(&bad, 0, sizeof(bad));
	assert_int_equal(harness_conf_write(&bad, "keymgr-bad", &c), 0);
	args[0] = "-c";
	args[1] = bad.conf_path;
	args[2] = NULL;
	status = harness_server_run(args, NULL, WAIT_MS, &out, &err);
	assert_true(status != -1);
	if (harness_exit_code(status) != 2 || strstr(err, "keymgr: certkey") == NULL ||
	    strstr(err, "does not match the certificate") == NULL)
		fail_msg("exit %d, stderr:\n%s", harness_exit_code(status), err);
	free(out);
	free(err);
}

static int
group_setup(void **state)
{
	struct harness_conf c = {.workers = WORKERS, .worker_shutdown_timeout = 2};
	char cmd[3 * PATH_MAX];

	if (client_suite_start(NULL, NULL, NULL, NULL, NULL) == -1)
		return -1;
	snprintf(rsa_cert, sizeof(rsa_cert), "%s/rsa-cert.pem", harness_dir());
	snprintf(rsa_key, sizeof(rsa_key), "%s/rsa-key.pem", harness_dir());
	snprintf(ec_cert, sizeof(ec_cert), "%s/ec-cert.pem", harness_dir());
	snprintf(ec_key, sizeof(ec_key), "%s/ec-key.pem", harness_dir());
	snprintf(cert_path, sizeof(cert_path), "%s/served-cert.pem", harness_dir());
	snprintf(key_path, sizeof(key_path), "%s/served-key.pem", harness_dir());
	snprintf(cmd, sizeof(cmd),
		 "openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=localhost "
		 "-addext subjectAltName=IP:127.0.0.1 -days 2 -keyout %s -out %s 2>/dev/null",
		 rsa_key, rsa_cert);
	if (system(cmd) != 0 || copy_file(rsa_cert, cert_path) != 0 ||
	    copy_file(rsa_key, key_path) != 0 || copy_file(harness_cert_path(), ec_cert) != 0 ||
	    copy_file(harness_key_path(), ec_key) != 0)
		return -1;
	/* the harness's clients trust the file of its certificate: the RSA one joins it */
	snprintf(cmd, sizeof(cmd), "cat %s >> %s", rsa_cert, harness_cert_path());
	if (system(cmd) != 0)
		return -1;
	c.certfile = cert_path;
	c.certkey = key_path;
	c.monitor_interval = 1;
	return harness_server_start(&server, "keymgr", &c, NULL);
}

static int
group_teardown(void **state)
{
	return client_suite_stop(NULL, NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rsa_handshakes_tls12_pkcs1_pss_and_tls13),
	    cmocka_unit_test(test_worker_memory_holds_no_key_but_does_with_keymgr_off),
	    cmocka_unit_test(test_keymgr_is_not_dumpable_and_has_no_core),
	    cmocka_unit_test(test_keymgr_holds_only_its_worker_sockets),
	    cmocka_unit_test(test_stopped_keymgr_fails_handshakes_in_time_and_counts),
	    cmocka_unit_test(test_killed_keymgr_is_restarted_and_handshakes_resume),
	    cmocka_unit_test(test_reload_to_an_ecdsa_certificate_serves_it),
	    cmocka_unit_test(test_start_with_a_key_that_does_not_match_exits_2),
	    cmocka_unit_test(client_test_sanitizer_logs),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
