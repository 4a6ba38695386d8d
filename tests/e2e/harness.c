/*
 * harness.c: the end-to-end test harness (see harness.h).
 *
 * A test binary is one process that starts real servers as children. The one piece of state
 * kept at file level is the list of what was started: it has to be reachable from atexit and
 * from a signal handler, so that no test failure, assertion longjmp or Ctrl-C leaves a
 * FerretDB, redis-server or enterprised behind. Every child gets its own process group (so
 * workers and the monitor of a master are killed with it) and PR_SET_PDEATHSIG (so even a
 * SIGKILLed test binary takes its direct children along). The harness is also a child
 * subreaper: workers orphaned by a dead master come back to us to be reaped, not to init.
 */
#include "harness.h"

#include "auth.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <jansson.h>
#include <math.h>
#include <pwd.h>
#include <mongoc/mongoc.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define HARNESS_MAX_SERVERS 16
#define HARNESS_MAX_LOGS 64
#define HARNESS_MAX_ENVS 32

/* Everything started by this binary; see the comment at the top. */
static struct {
	int ready;
	char dir[64]; /* from mkdtemp: short, so paths built on it never truncate */
	char cert[128];
	char key[128];
	pid_t groups[HARNESS_MAX_CHILDREN * 4]; /* process groups ever started */
	volatile sig_atomic_t ngroups;
	struct harness_server *servers[HARNESS_MAX_SERVERS];
	int nservers;
	char server_logs[HARNESS_MAX_LOGS][PATH_MAX]; /* stderr files of enterprised */
	int nlogs;
	char **envs[HARNESS_MAX_ENVS];
	int nenvs;
	int runs;
} harness;

static void
harness_logf(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("harness: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

uint64_t
harness_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int64_t
harness_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
harness_sleep_ms(unsigned ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

char *
harness_read_file(const char *path, size_t *len)
{
	FILE *f;
	char *data = NULL;
	size_t n = 0, cap = 0, r;

	if ((f = fopen(path, "rb")) == NULL)
		return NULL;
	for (;;) {
		if (cap - n < 4096) {
			cap = cap ? cap * 2 : 8192;
			data = realloc(data, cap);
			if (data == NULL)
				abort();
		}
		r = fread(data + n, 1, cap - n - 1, f);
		n += r;
		if (r == 0)
			break;
	}
	fclose(f);
	data[n] = '\0';
	if (len != NULL)
		*len = n;
	return data;
}

/* --- set-up and teardown ------------------------------------------------------------------ */

static void
harness_kill_groups(void)
{
	int i;

	/* async-signal-safe: only kill(2) */
	for (i = 0; i < harness.ngroups; i++) {
		if (harness.groups[i] > 0) {
			kill(-harness.groups[i], SIGCONT);
			kill(-harness.groups[i], SIGKILL);
		}
	}
}

static void
harness_on_signal(int sig)
{
	harness_kill_groups();
	signal(sig, SIG_DFL);
	raise(sig);
}

static void
harness_atexit(void)
{
	harness_cleanup();
}

static int
harness_rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

void
harness_cleanup(void)
{
	int i, status;

	if (!harness.ready)
		return;
	harness_kill_groups();
	/* reap our children and any orphans that came to us as subreaper */
	for (i = 0; i < 200; i++) {
		pid_t p = waitpid(-1, &status, WNOHANG);

		if (p == -1 && errno == ECHILD)
			break;
		if (p <= 0)
			harness_sleep_ms(10);
	}
	for (i = 0; i < harness.nenvs; i++) {
		char **e;

		for (e = harness.envs[i]; *e != NULL; e++)
			free(*e);
		free(harness.envs[i]);
	}
	harness.nenvs = 0;
	if (getenv("HARNESS_KEEP") == NULL || strcmp(getenv("HARNESS_KEEP"), "1") != 0)
		nftw(harness.dir, harness_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	else
		harness_logf("kept %s", harness.dir);
	curl_global_cleanup();
	mongoc_cleanup();
	harness.ready = 0;
}

static int
harness_spawn_wait(char *const argv[], const char *out)
{
	struct harness_proc p;

	if (harness_proc_start(&p, out, argv, NULL) == -1)
		return -1;
	if (harness_proc_wait(&p, 30000) == -1) {
		harness_proc_stop(&p, 100);
		return -1;
	}
	return harness_exit_code(p.status) == 0 ? 0 : -1;
}

/* The driver's warnings (FerretDB has no endSessions) are noise in test output. */
static void
harness_mongoc_log(mongoc_log_level_t level, const char *domain, const char *message, void *arg)
{
	if (level <= MONGOC_LOG_LEVEL_ERROR)
		fprintf(stderr, "mongoc: %s: %s\n", domain, message);
}

int
harness_init(void)
{
	struct sigaction sa;
	char tmpl[] = "/tmp/enterprised-e2e-XXXXXX";

	if (harness.ready)
		return 0;
	if (mkdtemp(tmpl) == NULL) {
		harness_logf("mkdtemp: %s", strerror(errno));
		return -1;
	}
	snprintf(harness.dir, sizeof(harness.dir), "%s", tmpl);
	snprintf(harness.cert, sizeof(harness.cert), "%s/cert.pem", harness.dir);
	snprintf(harness.key, sizeof(harness.key), "%s/key.pem", harness.dir);
	harness.ready = 1;

	curl_global_init(CURL_GLOBAL_ALL);
	mongoc_init();
	mongoc_log_set_handler(harness_mongoc_log, NULL);
	atexit(harness_atexit);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = harness_on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	prctl(PR_SET_CHILD_SUBREAPER, 1);

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
				"/CN=localhost",
				"-addext",
				"subjectAltName=IP:127.0.0.1",
				"-days",
				"2",
				"-keyout",
				harness.key,
				"-out",
				harness.cert,
				NULL};

		if (harness_spawn_wait(argv, "openssl") == -1) {
			harness_logf("openssl req failed (see %s/openssl.err)", harness.dir);
			return -1;
		}
	}
	return 0;
}

const char *
harness_dir(void)
{
	return harness.dir;
}

const char *
harness_cert_path(void)
{
	return harness.cert;
}

const char *
harness_key_path(void)
{
	return harness.key;
}

int
harness_free_port(void)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	int fd, port;

	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) == -1)
		return -1;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    getsockname(fd, (struct sockaddr *)&sin, &len) == -1) {
		close(fd);
		return -1;
	}
	port = ntohs(sin.sin_port);
	close(fd);
	return port;
}

int
harness_listen(int port)
{
	struct sockaddr_in sin;
	int fd, one = 1;

	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) == -1)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((uint16_t)port);
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 || listen(fd, 16) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}

/* A connected socket to 127.0.0.1:port within timeout_ms, or -1. */
static int
harness_connect(int port, unsigned timeout_ms)
{
	struct sockaddr_in sin;
	struct pollfd pfd;
	int fd, err = 0;
	socklen_t len = sizeof(err);

	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0)) == -1)
		return -1;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((uint16_t)port);
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1) {
		if (errno != EINPROGRESS)
			goto fail;
		pfd.fd = fd;
		pfd.events = POLLOUT;
		if (poll(&pfd, 1, (int)timeout_ms) != 1)
			goto fail;
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1 || err != 0)
			goto fail;
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	return fd;
fail:
	close(fd);
	return -1;
}

int
harness_port_accepts(int port)
{
	int fd = harness_connect(port, 1000);

	if (fd == -1)
		return 0;
	close(fd);
	return 1;
}

/* --- child processes ---------------------------------------------------------------------- */

/* kill(-group, sig), never with a group <= 1: kill(0, ...) would hit the test binary itself. */
static int
harness_kill_group(pid_t group, int sig)
{
	if (group <= 1)
		return -1;
	return kill(-group, sig);
}

int
harness_proc_start(struct harness_proc *p, const char *name, char *const argv[], char *const envp[])
{
	pid_t pid, parent = getpid();
	int out, err, in;

	memset(p, 0, sizeof(*p));
	snprintf(p->name, sizeof(p->name), "%s", name);
	snprintf(p->out_path, sizeof(p->out_path), "%s/%s.out", harness.dir, name);
	snprintf(p->err_path, sizeof(p->err_path), "%s/%s.err", harness.dir, name);
	if (harness.ngroups >= (int)(sizeof(harness.groups) / sizeof(harness.groups[0]))) {
		harness_logf("too many children");
		return -1;
	}
	/* opened here, not in the child: a restart appends to the same files */
	out = open(p->out_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	err = open(p->err_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	in = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (out == -1 || err == -1 || in == -1) {
		harness_logf("open %s: %s", p->out_path, strerror(errno));
		goto fail;
	}
	fflush(NULL);
	if ((pid = fork()) == -1) {
		harness_logf("fork: %s", strerror(errno));
		goto fail;
	}
	if (pid == 0) {
		setpgid(0, 0);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		dup2(in, 0);
		dup2(out, 1);
		dup2(err, 2);
		signal(SIGPIPE, SIG_DFL);
		if (strchr(argv[0], '/') != NULL)
			execve(argv[0], argv, envp != NULL ? envp : environ);
		else
			execvpe(argv[0], argv, envp != NULL ? envp : environ);
		dprintf(2, "harness: exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	setpgid(pid, pid);
	p->pid = pid;
	harness.groups[harness.ngroups] = pid;
	harness.ngroups++;
	close(out);
	close(err);
	close(in);
	return 0;
fail:
	if (out != -1)
		close(out);
	if (err != -1)
		close(err);
	if (in != -1)
		close(in);
	return -1;
}

int
harness_proc_wait(struct harness_proc *p, unsigned timeout_ms)
{
	uint64_t deadline = harness_now_ms() + timeout_ms;
	pid_t r;

	if (p->pid == 0)
		return 0;
	for (;;) {
		r = waitpid(p->pid, &p->status, WNOHANG);
		if (r == p->pid || (r == -1 && errno == ECHILD)) {
			p->pid = 0;
			return 0;
		}
		if (harness_now_ms() >= deadline)
			return -1;
		harness_sleep_ms(5);
	}
}

int
harness_proc_stop(struct harness_proc *p, unsigned timeout_ms)
{
	pid_t group = p->pid;

	if (p->pid == 0)
		return p->status;
	kill(p->pid, SIGCONT);
	kill(p->pid, SIGTERM);
	if (harness_proc_wait(p, timeout_ms) == -1) {
		harness_logf("%s (pid %d) ignored SIGTERM for %u ms: SIGKILL", p->name, (int)group,
			     timeout_ms);
		harness_kill_group(group, SIGKILL);
		harness_proc_wait(p, 5000);
	}
	if (harness_kill_group(group, 0) == 0) {
		harness_logf("%s exited but left processes in its group %d: killed", p->name,
			     (int)group);
		harness_kill_group(group, SIGKILL);
	}
	return p->status;
}

int
harness_proc_pause(struct harness_proc *p)
{
	return p->pid > 0 ? kill(p->pid, SIGSTOP) : -1;
}

int
harness_proc_resume(struct harness_proc *p)
{
	return p->pid > 0 ? kill(p->pid, SIGCONT) : -1;
}

int
harness_exit_code(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return -1;
}

void
harness_print_tail(const char *path, int lines)
{
	size_t len;
	char *data = harness_read_file(path, &len);
	const char *start;
	int n = 0;

	if (data == NULL)
		return;
	start = data + len;
	while (start > data && n <= lines) {
		start--;
		if (*start == '\n')
			n++;
	}
	fprintf(stderr, "---- last lines of %s ----\n%s\n----\n", path, start);
	free(data);
}

/* --- dependencies ------------------------------------------------------------------------- */

static int
harness_mongo_ping(int port)
{
	char uri[256];
	mongoc_client_t *client;
	bson_t *cmd, reply;
	bson_error_t error;
	int ok;

	snprintf(uri, sizeof(uri),
		 "mongodb://127.0.0.1:%d/?serverSelectionTimeoutMS=1000&connectTimeoutMS=1000"
		 "&serverSelectionTryOnce=true",
		 port);
	if ((client = mongoc_client_new(uri)) == NULL)
		return -1;
	cmd = BCON_NEW("ping", BCON_INT32(1));
	ok = mongoc_client_command_simple(client, "admin", cmd, NULL, &reply, &error);
	bson_destroy(&reply);
	bson_destroy(cmd);
	mongoc_client_destroy(client);
	return ok ? 0 : -1;
}

int
harness_ferretdb_start(struct harness_deps *d)
{
	const char *bin = getenv("FERRETDB_BIN");
	char listen[64], url[PATH_MAX + 16];
	uint64_t deadline;

	if (bin == NULL || *bin == '\0')
		bin = ".tools/bin/ferretdb";
	if (d->mongo_port == 0 && (d->mongo_port = harness_free_port()) == -1)
		return -1;
	if (d->sqlite_dir[0] == '\0') {
		snprintf(d->sqlite_dir, 128, "%s/sqlite-%d", harness.dir, d->mongo_port);
		if (mkdir(d->sqlite_dir, 0755) == -1 && errno != EEXIST) {
			harness_logf("mkdir %s: %s", d->sqlite_dir, strerror(errno));
			return -1;
		}
	}
	snprintf(listen, sizeof(listen), "--listen-addr=127.0.0.1:%d", d->mongo_port);
	snprintf(url, sizeof(url), "--sqlite-url=file:%.4000s/", d->sqlite_dir);
	{
		char *argv[] = {(char *)bin, listen, url, "--log-level=warn", NULL};

		if (harness_proc_start(&d->ferretdb, "ferretdb", argv, NULL) == -1)
			return -1;
	}
	deadline = harness_now_ms() + 20000;
	while (harness_now_ms() < deadline) {
		if (harness_proc_wait(&d->ferretdb, 0) == 0) {
			harness_logf("ferretdb exited with %d",
				     harness_exit_code(d->ferretdb.status));
			harness_print_tail(d->ferretdb.err_path, 20);
			return -1;
		}
		if (harness_port_accepts(d->mongo_port) && harness_mongo_ping(d->mongo_port) == 0)
			return 0;
		harness_sleep_ms(50);
	}
	harness_logf("ferretdb on port %d not ready after 20 s", d->mongo_port);
	harness_print_tail(d->ferretdb.err_path, 20);
	harness_proc_stop(&d->ferretdb, 1000);
	return -1;
}

static int
harness_redis_ping(int port)
{
	char reply[16] = {0};
	int fd = harness_connect(port, 500);
	ssize_t n;
	struct timeval tv = {1, 0};

	if (fd == -1)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	n = write(fd, "PING\r\n", 6);
	if (n == 6)
		n = read(fd, reply, sizeof(reply) - 1);
	close(fd);
	return n > 0 && strncmp(reply, "+PONG", 5) == 0 ? 0 : -1;
}

int
harness_redis_start(struct harness_deps *d)
{
	const char *bin = getenv("REDIS_SERVER_BIN");
	char port[16];
	uint64_t deadline;

	if (bin == NULL || *bin == '\0')
		bin = "redis-server";
	if (d->redis_port == 0 && (d->redis_port = harness_free_port()) == -1)
		return -1;
	snprintf(port, sizeof(port), "%d", d->redis_port);
	{
		char *argv[] = {(char *)bin, "--port", port,	       "--bind", "127.0.0.1",
				"--save",    "",       "--appendonly", "no",	 "--daemonize",
				"no",	     "--dir",  harness.dir,    NULL};

		if (harness_proc_start(&d->redis, "redis", argv, NULL) == -1)
			return -1;
	}
	deadline = harness_now_ms() + 10000;
	while (harness_now_ms() < deadline) {
		if (harness_proc_wait(&d->redis, 0) == 0) {
			harness_logf("redis-server exited with %d",
				     harness_exit_code(d->redis.status));
			harness_print_tail(d->redis.out_path, 20);
			return -1;
		}
		if (harness_redis_ping(d->redis_port) == 0)
			return 0;
		harness_sleep_ms(20);
	}
	harness_logf("redis-server on port %d not ready after 10 s", d->redis_port);
	harness_proc_stop(&d->redis, 1000);
	return -1;
}

int
harness_deps_start(struct harness_deps *d)
{
	if (harness_redis_start(d) == -1)
		return -1;
	return harness_ferretdb_start(d);
}

void
harness_ferretdb_stop(struct harness_deps *d)
{
	harness_proc_stop(&d->ferretdb, 5000);
}

void
harness_redis_stop(struct harness_deps *d)
{
	harness_proc_stop(&d->redis, 5000);
}

void
harness_deps_stop(struct harness_deps *d)
{
	harness_ferretdb_stop(d);
	harness_redis_stop(d);
}

mongoc_client_t *
harness_mongo_client(const struct harness_deps *d)
{
	char uri[128];
	mongoc_client_t *client;

	snprintf(uri, sizeof(uri), "mongodb://127.0.0.1:%d/%s?serverSelectionTimeoutMS=5000",
		 d->mongo_port, HARNESS_DB);
	if ((client = mongoc_client_new(uri)) == NULL)
		harness_logf("mongoc_client_new %s failed", uri);
	return client;
}

/* --- enterprised -------------------------------------------------------------------------- */

const char *
harness_server_bin(void)
{
	const char *bin = getenv("ENTERPRISED_BIN");

	return bin != NULL && *bin != '\0' ? bin : "./enterprised";
}

/* Variables that would change the server's configuration behind the test's back. */
static int
harness_env_is_ours(const char *kv)
{
	static const char *const prefixes[] = {
	    "MONGODB_",	     "REDIS_",		 "DB_",		  "CACHE_",
	    "MONITORING_",   "CIRCUIT_BREAKER_", "QUERY_",	  "MEMORY_",
	    "JWT_",	     "CURSOR_",		 "PAGINATION_",	  "RATE_LIMIT_",
	    "ASAN_OPTIONS=", "UBSAN_OPTIONS=",	 "LSAN_OPTIONS=", NULL};
	int i;

	for (i = 0; prefixes[i] != NULL; i++)
		if (strncmp(kv, prefixes[i], strlen(prefixes[i])) == 0)
			return 1;
	return 0;
}

static char *
harness_strdupf(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) == -1)
		abort();
	va_end(ap);
	return s;
}

char **
harness_server_env(const struct harness_deps *deps)
{
	size_t n = 0, i = 0;
	char **env, **e;
	int mport, rport;

	if (harness.nenvs >= HARNESS_MAX_ENVS) {
		harness_logf("too many environments");
		abort();
	}
	for (e = environ; *e != NULL; e++)
		n++;
	if ((env = calloc(n + 8, sizeof(*env))) == NULL)
		abort();
	for (e = environ; *e != NULL; e++)
		if (!harness_env_is_ours(*e))
			env[i++] = harness_strdupf("%s", *e);
	/* without deps: ports that were free a moment ago, so the dependencies are down */
	mport = deps != NULL ? deps->mongo_port : harness_free_port();
	rport = deps != NULL ? deps->redis_port : harness_free_port();
	env[i++] = harness_strdupf("MONGODB_URI=mongodb://127.0.0.1:%d/enterprise", mport);
	env[i++] = harness_strdupf("REDIS_URL=redis://127.0.0.1:%d/0", rport);
	env[i++] = harness_strdupf("ASAN_OPTIONS=detect_leaks=1:abort_on_error=0");
	env[i++] = harness_strdupf("UBSAN_OPTIONS=print_stacktrace=1");
	env[i] = NULL;
	harness.envs[harness.nenvs++] = env;
	return env;
}

int
harness_privsep_on(void)
{
	const char *env = getenv("HARNESS_PRIVSEP");

	if (env != NULL && strcmp(env, "0") == 0)
		return 0;
	return geteuid() == 0 && getpwnam(HARNESS_SANDBOX_USER) != NULL;
}

int
harness_conf_write(struct harness_server *s, const char *name, const struct harness_conf *c)
{
	FILE *f;

	memset(s, 0, sizeof(*s));
	s->conf = *c;
	s->port = c->port > 0 ? c->port : harness_free_port();
	s->plain_port = c->plain_server ? harness_free_port() : 0;
	s->monitor_port = harness_free_port();
	if (s->port <= 0 || s->plain_port < 0 || s->monitor_port <= 0)
		return -1;
	snprintf(s->conf_path, sizeof(s->conf_path), "%s/%s.conf", harness.dir, name);
	if (c->pidfile)
		snprintf(s->pidfile, sizeof(s->pidfile), "%s/%s.pid", harness.dir, name);
	if (c->accesslog)
		snprintf(s->accesslog, sizeof(s->accesslog), "%s/%s.access", harness.dir, name);
	snprintf(s->url, sizeof(s->url), "%s://127.0.0.1:%d", c->no_tls ? "http" : "https",
		 s->port);
	if (s->plain_port)
		snprintf(s->plain_url, sizeof(s->plain_url), "http://127.0.0.1:%d", s->plain_port);
	snprintf(s->metrics_url, sizeof(s->metrics_url), "http://127.0.0.1:%d/metrics",
		 s->monitor_port);

	if ((f = fopen(s->conf_path, "w")) == NULL) {
		harness_logf("%s: %s", s->conf_path, strerror(errno));
		return -1;
	}
	fprintf(f, "# written by tests/e2e/harness.c\n");
	fprintf(f, "server main {\n\tbind\t\t127.0.0.1 %d\n\ttls\t\t%s\n}\n", s->port,
		c->no_tls ? "no" : "yes");
	if (s->plain_port)
		fprintf(f, "server plain {\n\tbind\t\t127.0.0.1 %d\n\ttls\t\tno\n}\n",
			s->plain_port);
	fprintf(f, "workers\t\t\t%d\n", c->workers > 0 ? c->workers : 2);
	if (c->http2)
		fprintf(f, "http2\t\t\tyes\n");
	if (c->http_body_max)
		fprintf(f, "http_body_max\t\t%ld\n", c->http_body_max);
	if (c->request_timeout)
		fprintf(f, "request_timeout\t\t%d\n", c->request_timeout);
	if (c->worker_shutdown_timeout)
		fprintf(f, "worker_shutdown_timeout\t%d\n", c->worker_shutdown_timeout);
	fprintf(f, "certfile\t\t%s\n", c->certfile != NULL ? c->certfile : harness.cert);
	fprintf(f, "certkey\t\t\t%s\n", c->certkey != NULL ? c->certkey : harness.key);
	if (c->pidfile)
		fprintf(f, "pidfile\t\t\t%s\n", s->pidfile);
	if (c->accesslog)
		fprintf(f, "accesslog\t\t%s\n", s->accesslog);
	if (c->debug_routes)
		fprintf(f, "debug_routes\t\tyes\n");
	if (!c->shed) {
		static const char *const classes[] = {"organization", "clinic", "assignment",
						      "list",	      "search", "report"};
		size_t i;

		for (i = 0; i < sizeof(classes) / sizeof(classes[0]); i++)
			fprintf(f, "shed_budget_%s\t0\n", classes[i]);
	}
	if (!c->ratelimit)
		fprintf(f, "ratelimit {\n\tenabled\t\tno\n}\n");
	if (!c->no_privsep && harness_privsep_on()) {
		char root[PATH_MAX];

		/* issue 12: as root, workers, the monitor and the keymgr drop to the test user in an empty
		 * chroot (mode 0755 inside the 0700 test directory: chroot is done as root) */
		snprintf(root, sizeof(root), "%s/chroot", harness.dir);
		if (mkdir(root, 0755) != 0 && errno != EEXIST) {
			harness_logf("%s: %s", root, strerror(errno));
			fclose(f);
			return -1;
		}
		fprintf(f, "privsep worker {\n\trunas\t\t%s\n\troot\t\t%s\n}\n",
			HARNESS_SANDBOX_USER, root);
		fprintf(f, "privsep monitor {\n\trunas\t\t%s\n\troot\t\t%s\n}\n",
			HARNESS_SANDBOX_USER, root);
		fprintf(f, "privsep keymgr {\n\trunas\t\t%s\n\troot\t\t%s\n}\n",
			HARNESS_SANDBOX_USER, root);
	}
	fprintf(f, "monitor {\n\tbind\t\t127.0.0.1 %d\n", s->monitor_port);
	if (c->monitor_interval)
		fprintf(f, "\tinterval\t%d\n", c->monitor_interval);
	fprintf(f, "}\n");
	/* every route but health needs a token: the tests mint theirs with the same secret */
	if (c->jwt_secret == NULL || c->jwt_secret[0] != '\0')
		fprintf(f, "auth {\n\tjwt_secret\t%s\n}\n",
			c->jwt_secret != NULL ? c->jwt_secret : HARNESS_JWT_SECRET);
	if (c->extra != NULL)
		fprintf(f, "%s\n", c->extra);
	if (fclose(f) != 0)
		return -1;
	return 0;
}

static void
harness_track_log(const char *path)
{
	int i;

	for (i = 0; i < harness.nlogs; i++)
		if (strcmp(harness.server_logs[i], path) == 0)
			return;
	if (harness.nlogs < HARNESS_MAX_LOGS)
		snprintf(harness.server_logs[harness.nlogs++], PATH_MAX, "%s", path);
}

int
harness_server_start(struct harness_server *s, const char *name, const struct harness_conf *c,
		     const struct harness_deps *deps)
{
	struct harness_response r;
	char live[128];
	uint64_t deadline;
	int i;

	if (harness_conf_write(s, name, c) == -1)
		return -1;
	{
		char *argv[] = {(char *)harness_server_bin(), "-c", s->conf_path, NULL};

		if (harness_proc_start(&s->proc, name, argv, harness_server_env(deps)) == -1)
			return -1;
	}
	harness_track_log(s->proc.err_path);
	for (i = 0; i < harness.nservers; i++)
		if (harness.servers[i] == s)
			break;
	if (i == harness.nservers && harness.nservers < HARNESS_MAX_SERVERS)
		harness.servers[harness.nservers++] = s;

	snprintf(live, sizeof(live), "%s/api/v1/health/live", s->url);
	deadline = harness_now_ms() + 15000;
	while (harness_now_ms() < deadline) {
		struct harness_http_opts o = {.timeout_ms = 2000};
		int ok;

		if (harness_proc_wait(&s->proc, 0) == 0) {
			harness_logf("enterprised (%s) exited with %d during start", name,
				     harness_exit_code(s->proc.status));
			harness_print_tail(s->proc.err_path, 30);
			return -1;
		}
		ok = harness_request("GET", live, NULL, NULL, 0, &o, &r) == 0 && r.status == 200;
		harness_response_free(&r);
		if (ok)
			return 0;
		harness_sleep_ms(50);
	}
	harness_logf("enterprised (%s) did not answer %s with 200 within 15 s", name, live);
	harness_print_tail(s->proc.err_path, 30);
	harness_proc_stop(&s->proc, 2000);
	return -1;
}

int
harness_server_stop(struct harness_server *s)
{
	return harness_proc_stop(&s->proc, 20000);
}

int
harness_server_stop_all(void)
{
	int i, code, bad = 0;

	for (i = 0; i < harness.nservers; i++) {
		if (harness.servers[i]->proc.pid == 0)
			continue;
		code = harness_exit_code(harness_server_stop(harness.servers[i]));
		if (code != 0) {
			fprintf(stderr, "harness: enterprised %s exited %d on SIGTERM\n",
				harness.servers[i]->proc.name, code);
			bad++;
		}
	}
	return bad;
}

int
harness_server_run(char *const args[], const struct harness_deps *deps, unsigned timeout_ms,
		   char **out, char **err)
{
	struct harness_proc p;
	char *argv[32], name[32];
	pid_t group;
	int i;

	argv[0] = (char *)harness_server_bin();
	for (i = 0; args[i] != NULL && i < 30; i++)
		argv[i + 1] = args[i];
	argv[i + 1] = NULL;
	snprintf(name, sizeof(name), "run-%d", ++harness.runs);
	if (harness_proc_start(&p, name, argv, harness_server_env(deps)) == -1)
		return -1;
	harness_track_log(p.err_path);
	group = p.pid;
	if (harness_proc_wait(&p, timeout_ms) == -1) {
		harness_logf("%s did not exit within %u ms", name, timeout_ms);
		harness_kill_group(group, SIGKILL);
		harness_proc_wait(&p, 5000);
		return -1;
	}
	if (harness_kill_group(group, 0) == 0) {
		harness_logf("%s exited but left processes in its group: killed", name);
		harness_kill_group(group, SIGKILL);
	}
	if (out != NULL && (*out = harness_read_file(p.out_path, NULL)) == NULL)
		*out = strdup("");
	if (err != NULL && (*err = harness_read_file(p.err_path, NULL)) == NULL)
		*err = strdup("");
	return p.status;
}

int
harness_server_log_clean(char *bad, size_t badlen)
{
	/* the last one: LSan could not run (ptrace, limits), so leaks would go unseen */
	static const char *const needles[] = {
	    "ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
	    "runtime error:", "LeakSanitizer has encountered a fatal error",
	    /* issue 12: a call outside a seccomp allow-list (sandbox.c's SIGSYS handler) */
	    "seccomp: forbidden system call", NULL};
	int i, k;

	for (i = 0; i < harness.nlogs; i++) {
		char *data = harness_read_file(harness.server_logs[i], NULL), *line, *save;

		if (data == NULL)
			continue;
		for (line = strtok_r(data, "\n", &save); line != NULL;
		     line = strtok_r(NULL, "\n", &save)) {
			for (k = 0; needles[k] != NULL; k++) {
				if (strstr(line, needles[k]) != NULL) {
					snprintf(bad, badlen, "%s: %s", harness.server_logs[i],
						 line);
					free(data);
					return -1;
				}
			}
		}
		free(data);
	}
	return 0;
}

int
harness_children(pid_t parent, struct harness_child *out, int max)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	int n = 0;

	if (d == NULL)
		return 0;
	while ((de = readdir(d)) != NULL && n < max) {
		char path[300], buf[512], *rp, state;
		int ppid;
		FILE *f;

		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/stat", de->d_name);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		if (fgets(buf, sizeof(buf), f) == NULL) {
			fclose(f);
			continue;
		}
		fclose(f);
		if ((rp = strrchr(buf, ')')) == NULL ||
		    sscanf(rp + 1, " %c %d", &state, &ppid) != 2)
			continue;
		if (ppid != parent || state == 'Z')
			continue;
		out[n].pid = (pid_t)atoi(de->d_name);
		snprintf(path, sizeof(path), "/proc/%s/comm", de->d_name);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		if (fgets(out[n].comm, sizeof(out[n].comm), f) == NULL)
			out[n].comm[0] = '\0';
		fclose(f);
		out[n].comm[strcspn(out[n].comm, "\n")] = '\0';
		n++;
	}
	closedir(d);
	return n;
}

pid_t
harness_child_by_comm(pid_t parent, const char *comm)
{
	struct harness_child kids[128];
	int i, n = harness_children(parent, kids, 128);

	for (i = 0; i < n; i++)
		if (strcmp(kids[i].comm, comm) == 0)
			return kids[i].pid;
	return 0;
}

int
harness_pid_gone(pid_t pid)
{
	char path[64], buf[512], *rp, state;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return 1;
	if (fgets(buf, sizeof(buf), f) == NULL) {
		fclose(f);
		return 1;
	}
	fclose(f);
	if ((rp = strrchr(buf, ')')) == NULL || sscanf(rp + 1, " %c", &state) != 1)
		return 1;
	return state == 'Z' || state == 'X';
}

/* --- HTTP client -------------------------------------------------------------------------- */

struct harness_upload {
	const char *data;
	size_t len;
	size_t off;
};

static size_t
harness_on_body(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct harness_response *r = arg;
	size_t n = size * nmemb;

	r->body = realloc(r->body, r->body_len + n + 1);
	if (r->body == NULL)
		abort();
	memcpy(r->body + r->body_len, ptr, n);
	r->body_len += n;
	r->body[r->body_len] = '\0';
	return n;
}

static void
harness_headers_free(struct harness_response *r)
{
	int i;

	for (i = 0; i < r->nheaders; i++) {
		free(r->headers[i].name);
		free(r->headers[i].value);
	}
	r->nheaders = 0;
}

static size_t
harness_on_header(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct harness_response *r = arg;
	size_t n = size * nmemb, nlen, vstart, vend;
	char *colon;

	/* a new status line (100 Continue, then the final one): keep only the last block */
	if (n >= 5 && strncmp(ptr, "HTTP/", 5) == 0) {
		harness_headers_free(r);
		return n;
	}
	if ((colon = memchr(ptr, ':', n)) == NULL || r->nheaders >= HARNESS_MAX_HEADERS)
		return n;
	nlen = (size_t)(colon - ptr);
	vstart = nlen + 1;
	while (vstart < n && (ptr[vstart] == ' ' || ptr[vstart] == '\t'))
		vstart++;
	vend = n;
	while (vend > vstart &&
	       (ptr[vend - 1] == '\r' || ptr[vend - 1] == '\n' || ptr[vend - 1] == ' '))
		vend--;
	r->headers[r->nheaders].name = strndup(ptr, nlen);
	r->headers[r->nheaders].value = strndup(ptr + vstart, vend - vstart);
	r->nheaders++;
	return n;
}

static size_t
harness_on_read(char *buf, size_t size, size_t nitems, void *arg)
{
	struct harness_upload *u = arg;
	size_t n = size * nitems;

	/* small pieces, so that the body really goes out as several chunks */
	if (n > 300)
		n = 300;
	if (n > u->len - u->off)
		n = u->len - u->off;
	memcpy(buf, u->data + u->off, n);
	u->off += n;
	return n;
}

/*
 * With CONTRACT_RECORD=FILE set, every response the suite receives is appended to FILE as one
 * JSON line {method, path, status, contentType, contentEncoding, body | bodyInvalid}, for the
 * contract check (tools/contract validate: each against the schema of assets/openapi.json).
 * A body that is not JSON is recorded as bodyInvalid (its text is not needed to fail).
 */
static void
harness_record(const char *method, const char *url, const struct harness_response *r)
{
	const char *file = getenv("CONTRACT_RECORD"), *path = url, *ct, *ce;
	json_t *line, *body = NULL;
	char *text, *line_nl;
	size_t n;
	int fd;

	if (file == NULL || file[0] == '\0' || r->curl_code != CURLE_OK)
		return;
	if (strncmp(path, "http", 4) == 0 && (path = strstr(path, "://")) != NULL)
		path = strchr(path + 3, '/');
	if (path == NULL)
		path = "/";
	ct = harness_header(r, "content-type");
	ce = harness_header(r, "content-encoding");
	line = json_pack("{s:s, s:s, s:i, s:s?, s:s?}", "method", method, "path", path, "status",
			 (int)r->status, "contentType", ct, "contentEncoding", ce);
	if (line == NULL)
		abort();
	if (r->body_len > 0 && (body = json_loadb(r->body, r->body_len, 0, NULL)) != NULL)
		json_object_set_new(line, "body", body);
	else if (r->body_len > 0)
		json_object_set_new(line, "bodyInvalid", json_true());
	if ((text = json_dumps(line, JSON_COMPACT)) == NULL)
		abort();
	json_decref(line);
	if ((fd = open(file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644)) < 0) {
		fprintf(stderr, "harness: CONTRACT_RECORD %s: %s\n", file, strerror(errno));
		free(text);
		return;
	}
	/* one write per line under O_APPEND: lines of concurrent requests never interleave */
	n = strlen(text);
	if ((line_nl = malloc(n + 1)) == NULL)
		abort();
	memcpy(line_nl, text, n);
	line_nl[n] = '\n';
	if (write(fd, line_nl, n + 1) != (ssize_t)(n + 1))
		fprintf(stderr, "harness: CONTRACT_RECORD %s: short write\n", file);
	close(fd);
	free(line_nl);
	free(text);
}

int
harness_request(const char *method, const char *url, const char *const *headers, const char *body,
		size_t body_len, const struct harness_http_opts *o, struct harness_response *r)
{
	static const struct harness_http_opts defaults;
	struct harness_upload up = {body, body_len, 0};
	struct curl_slist *hl = NULL;
	char errbuf[CURL_ERROR_SIZE] = "";
	int https = strncmp(url, "https:", 6) == 0;
	CURL *c;
	long ver;
	int i;

	if (o == NULL)
		o = &defaults;
	memset(r, 0, sizeof(*r));
	if ((c = curl_easy_init()) == NULL) {
		r->curl_code = CURLE_FAILED_INIT;
		return -1;
	}
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_FRESH_CONNECT, 1L);
	curl_easy_setopt(c, CURLOPT_FORBID_REUSE, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, o->timeout_ms > 0 ? o->timeout_ms : 15000L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, harness_on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, harness_on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(c, CURLOPT_PROXY, "");
	if (https) {
		curl_easy_setopt(c, CURLOPT_CAINFO, harness.cert);
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
		if (o->tls_min || o->tls_max)
			curl_easy_setopt(c, CURLOPT_SSLVERSION, o->tls_min | o->tls_max);
		if (o->ciphers != NULL)
			curl_easy_setopt(c, CURLOPT_SSL_CIPHER_LIST, o->ciphers);
	}
	switch (o->version) {
	case HARNESS_HTTP_1_1:
		ver = CURL_HTTP_VERSION_1_1;
		break;
	case HARNESS_HTTP_2:
		ver = https ? CURL_HTTP_VERSION_2_0 : CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE;
		break;
	default:
		ver = https ? CURL_HTTP_VERSION_2TLS : CURL_HTTP_VERSION_1_1;
	}
	curl_easy_setopt(c, CURLOPT_HTTP_VERSION, ver);

	/* no 100-continue round trip: the tests are about the final answer */
	hl = curl_slist_append(hl, "Expect:");
	for (i = 0; headers != NULL && headers[i] != NULL; i++)
		hl = curl_slist_append(hl, headers[i]);
	if (strcmp(method, "GET") == 0 && body == NULL) {
		curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
	} else if (strcmp(method, "HEAD") == 0) {
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	} else if (body == NULL && strcmp(method, "POST") != 0) {
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	} else {
		curl_easy_setopt(c, CURLOPT_POST, 1L);
		if (o->chunked) {
			hl = curl_slist_append(hl, "Transfer-Encoding: chunked");
			curl_easy_setopt(c, CURLOPT_READFUNCTION, harness_on_read);
			curl_easy_setopt(c, CURLOPT_READDATA, &up);
		} else {
			curl_easy_setopt(c, CURLOPT_POSTFIELDS, body != NULL ? body : "");
			curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
					 (curl_off_t)(body != NULL ? body_len : 0));
		}
		if (strcmp(method, "POST") != 0)
			curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	}
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);

	r->curl_code = (int)curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	curl_easy_getinfo(c, CURLINFO_HTTP_VERSION, &r->http_version);
	curl_easy_getinfo(c, CURLINFO_TOTAL_TIME, &r->seconds);
	snprintf(r->error, sizeof(r->error), "%s",
		 errbuf[0] ? errbuf : curl_easy_strerror((CURLcode)r->curl_code));
	curl_easy_cleanup(c);
	curl_slist_free_all(hl);
	if (r->body == NULL) {
		r->body = calloc(1, 1);
		if (r->body == NULL)
			abort();
	}
	harness_record(method, url, r);
	return r->curl_code == CURLE_OK ? 0 : -1;
}

int
harness_get(const char *url, struct harness_response *r)
{
	return harness_request("GET", url, NULL, NULL, 0, NULL, r);
}

void
harness_response_free(struct harness_response *r)
{
	harness_headers_free(r);
	free(r->body);
	r->body = NULL;
	r->body_len = 0;
}

const char *
harness_header(const struct harness_response *r, const char *name)
{
	int i;

	for (i = 0; i < r->nheaders; i++)
		if (strcasecmp(r->headers[i].name, name) == 0)
			return r->headers[i].value;
	return NULL;
}

/* --- tokens ------------------------------------------------------------------------------- */

char *
harness_token_with(const char *secret, const char *role, const char *org, const char *sub,
		   long ttl_s)
{
	uint64_t now = (uint64_t)time(NULL);
	char *tok;

	/* exp = now + ttl: a negative ttl moves "now" back so that exp lies in the past */
	if (ttl_s < 0)
		tok = auth_token_hs256(secret, sub != NULL ? sub : "e2e-user", role, org, NULL,
				       NULL, now - (uint64_t)(-ttl_s) - 60, 60);
	else
		tok = auth_token_hs256(secret, sub != NULL ? sub : "e2e-user", role, org, NULL,
				       NULL, now, (uint64_t)ttl_s);
	if (tok == NULL)
		harness_logf("cannot mint a token for role %s", role);
	return tok;
}

char *
harness_token(const char *role, const char *org, const char *sub)
{
	return harness_token_with(HARNESS_JWT_SECRET, role, org, sub, 3600);
}

int
harness_request_token(const char *method, const char *url, const char *token,
		      const char *const *headers, const char *body, size_t body_len,
		      struct harness_response *r)
{
	const char *all[HARNESS_MAX_HEADERS + 3];
	char *auth = NULL;
	int i, n = 0, has_ct = 0, rc;

	if (token != NULL) {
		if (asprintf(&auth, "Authorization: Bearer %s", token) == -1)
			abort();
		all[n++] = auth;
	}
	for (i = 0; headers != NULL && headers[i] != NULL && i < HARNESS_MAX_HEADERS; i++) {
		if (strncasecmp(headers[i], "content-type:", 13) == 0)
			has_ct = 1;
		all[n++] = headers[i];
	}
	if (body != NULL && !has_ct)
		all[n++] = "Content-Type: application/json";
	all[n] = NULL;
	rc = harness_request(method, url, all, body, body_len, NULL, r);
	free(auth);
	return rc;
}

int
harness_get_token(const char *url, const char *token, struct harness_response *r)
{
	return harness_request_token("GET", url, token, NULL, NULL, 0, r);
}

/* --- JSON --------------------------------------------------------------------------------- */

bson_t *
harness_json_text(const char *text, size_t len)
{
	bson_error_t error;

	if (text == NULL || len == 0)
		return NULL;
	return bson_new_from_json((const uint8_t *)text, (ssize_t)len, &error);
}

bson_t *
harness_json(const struct harness_response *r)
{
	return harness_json_text(r->body, r->body_len);
}

static int
harness_json_find(const bson_t *doc, const char *path, bson_iter_t *out)
{
	bson_iter_t it;

	if (doc == NULL || !bson_iter_init(&it, doc))
		return -1;
	if (strchr(path, '.') == NULL)
		return bson_iter_find(&it, path) ? (*out = it, 0) : -1;
	return bson_iter_find_descendant(&it, path, out) ? 0 : -1;
}

bson_type_t
harness_json_type(const bson_t *doc, const char *path)
{
	bson_iter_t it;

	return harness_json_find(doc, path, &it) == 0 ? bson_iter_type(&it) : BSON_TYPE_EOD;
}

const char *
harness_json_str(const bson_t *doc, const char *path)
{
	bson_iter_t it;

	if (harness_json_find(doc, path, &it) == -1 || !BSON_ITER_HOLDS_UTF8(&it))
		return NULL;
	return bson_iter_utf8(&it, NULL);
}

int
harness_json_int(const bson_t *doc, const char *path, int64_t *out)
{
	bson_iter_t it;

	if (harness_json_find(doc, path, &it) == -1)
		return -1;
	if (BSON_ITER_HOLDS_INT32(&it))
		*out = bson_iter_int32(&it);
	else if (BSON_ITER_HOLDS_INT64(&it))
		*out = bson_iter_int64(&it);
	else
		return -1;
	return 0;
}

int
harness_json_num(const bson_t *doc, const char *path, double *out)
{
	bson_iter_t it;
	int64_t v;

	if (harness_json_int(doc, path, &v) == 0) {
		*out = (double)v;
		return 0;
	}
	if (harness_json_find(doc, path, &it) == -1 || !BSON_ITER_HOLDS_DOUBLE(&it))
		return -1;
	*out = bson_iter_double(&it);
	return 0;
}

int
harness_problem_names(const struct harness_response *r, const char *field)
{
	bson_t *doc = harness_json(r);
	bson_iter_t it, arr, entry;
	size_t flen = strlen(field);
	int found = 0;

	if (doc == NULL)
		return 0;
	if (bson_iter_init_find(&it, doc, "errors") && BSON_ITER_HOLDS_ARRAY(&it) &&
	    bson_iter_recurse(&it, &arr)) {
		while (!found && bson_iter_next(&arr)) {
			const char *f;
			size_t len;

			if (!BSON_ITER_HOLDS_DOCUMENT(&arr) || !bson_iter_recurse(&arr, &entry) ||
			    !bson_iter_find(&entry, "field") || !BSON_ITER_HOLDS_UTF8(&entry))
				continue;
			f = bson_iter_utf8(&entry, NULL);
			len = strlen(f);
			found = strcmp(f, field) == 0 || (len > flen && f[len - flen - 1] == '.' &&
							  strcmp(f + len - flen, field) == 0);
		}
	}
	bson_destroy(doc);
	return found;
}

int
harness_iso_ms(const char *iso, int64_t *ms)
{
	struct tm tm;
	int frac = 0, n = 0;
	const char *p;

	memset(&tm, 0, sizeof(tm));
	if (iso == NULL ||
	    sscanf(iso, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
		   &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) != 6 ||
	    n != 19)
		return -1;
	p = iso + n;
	if (*p == '.') {
		int digits = 0;

		for (p++; *p >= '0' && *p <= '9'; p++, digits++)
			if (digits < 3)
				frac = frac * 10 + (*p - '0');
		if (digits == 0)
			return -1;
		for (; digits < 3; digits++)
			frac *= 10;
	}
	if (strcmp(p, "Z") != 0)
		return -1;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	*ms = (int64_t)timegm(&tm) * 1000 + frac;
	return 0;
}

void
harness_ms_iso(int64_t ms, char out[32])
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	gmtime_r(&t, &tm);
	/* strftime: bounded fields, so the compiler sees no truncation */
	strftime(out, 24, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out + 19, 13, ".%03dZ", (int)(ms % 1000));
}

int
harness_problem_check(const struct harness_response *r, char *why, size_t whylen)
{
	const char *ct = harness_header(r, "content-type");
	bson_t *doc;
	int64_t status;
	int rc = -1;

	if (ct == NULL || strncasecmp(ct, "application/problem+json", 24) != 0) {
		snprintf(why, whylen, "content-type is %s, not application/problem+json",
			 ct != NULL ? ct : "(none)");
		return -1;
	}
	if ((doc = harness_json(r)) == NULL) {
		snprintf(why, whylen, "body is not a JSON object: %.200s", r->body);
		return -1;
	}
	if (harness_json_str(doc, "type") == NULL)
		snprintf(why, whylen, "no string `type` in %.200s", r->body);
	else if (harness_json_str(doc, "title") == NULL)
		snprintf(why, whylen, "no string `title` in %.200s", r->body);
	else if (harness_json_str(doc, "detail") == NULL)
		snprintf(why, whylen, "no string `detail` in %.200s", r->body);
	else if (harness_json_int(doc, "status", &status) == -1)
		snprintf(why, whylen, "no integer `status` in %.200s", r->body);
	else if (status != r->status)
		snprintf(why, whylen, "`status` %lld but HTTP status %ld", (long long)status,
			 r->status);
	else
		rc = 0;
	bson_destroy(doc);
	return rc;
}

/* --- Prometheus ----------------------------------------------------------------------------- */

static int
harness_prom_name_ok(const char *s, size_t len, int metric)
{
	size_t i;

	if (len == 0)
		return 0;
	for (i = 0; i < len; i++) {
		char ch = s[i];
		int alpha = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_' ||
			    (metric && ch == ':');

		if (!alpha && !(i > 0 && ch >= '0' && ch <= '9'))
			return 0;
	}
	return 1;
}

static size_t
harness_prom_name_len(const char *s)
{
	size_t n = 0;

	while ((s[n] >= 'a' && s[n] <= 'z') || (s[n] >= 'A' && s[n] <= 'Z') ||
	       (s[n] >= '0' && s[n] <= '9') || s[n] == '_' || s[n] == ':')
		n++;
	return n;
}

/* A float of the format: Go's ParseFloat syntax, which strtod covers, plus +Inf/-Inf/NaN. */
static int
harness_prom_value(const char *s, const char **end, double *v)
{
	char *e;

	if (strncmp(s, "+Inf", 4) == 0 || strncmp(s, "-Inf", 4) == 0 || strncmp(s, "NaN", 3) == 0) {
		*v = s[0] == '-' ? -INFINITY : s[0] == '+' ? INFINITY : NAN;
		*end = s + (s[0] == 'N' ? 3 : 4);
		return 0;
	}
	errno = 0;
	*v = strtod(s, &e);
	if (e == s)
		return -1;
	*end = e;
	return 0;
}

static int
harness_prom_line(struct harness_prom *p, const char *line, size_t *cap_s, size_t *cap_f)
{
	static const char *const types[] = {"counter", "gauge",	  "histogram",
					    "summary", "untyped", NULL};
	struct harness_prom_sample smp;
	const char *s = line, *e;
	size_t n, used;
	int i;

	if (*s == '\0')
		return 0;
	if (*s == '#') {
		char name[128], type[32], extra;

		if (strncmp(s, "# HELP ", 7) == 0) {
			n = harness_prom_name_len(s + 7);
			return n > 0 && (s[7 + n] == ' ' || s[7 + n] == '\0') ? 0 : -1;
		}
		if (strncmp(s, "# TYPE ", 7) != 0)
			return 0; /* any other comment */
		if (sscanf(s + 7, "%127s %31s %c", name, type, &extra) != 2)
			return -1;
		if (!harness_prom_name_ok(name, strlen(name), 1))
			return -1;
		for (i = 0; types[i] != NULL; i++)
			if (strcmp(types[i], type) == 0)
				break;
		if (types[i] == NULL || harness_prom_type(p, name) != NULL)
			return -1; /* unknown type, or a family typed twice */
		if (p->nfamilies == *cap_f) {
			*cap_f = *cap_f ? *cap_f * 2 : 32;
			p->families = realloc(p->families, *cap_f * sizeof(*p->families));
			if (p->families == NULL)
				abort();
		}
		snprintf(p->families[p->nfamilies].name, sizeof(name), "%s", name);
		snprintf(p->families[p->nfamilies].type, 16, "%.15s", type);
		p->nfamilies++;
		return 0;
	}

	memset(&smp, 0, sizeof(smp));
	n = harness_prom_name_len(s);
	if (!harness_prom_name_ok(s, n, 1) || n >= sizeof(smp.name))
		return -1;
	memcpy(smp.name, s, n);
	s += n;
	smp.labels[0] = ',';
	used = 1;
	if (*s == '{') {
		s++;
		while (*s != '}') {
			n = harness_prom_name_len(s);
			if (!harness_prom_name_ok(s, n, 0) || s[n] != '=' || s[n + 1] != '"')
				return -1;
			if (used + n + 4 >= sizeof(smp.labels))
				return -1;
			memcpy(smp.labels + used, s, n + 2);
			used += n + 2;
			s += n + 2;
			while (*s != '"') {
				if (*s == '\0' || *s == '\n')
					return -1;
				if (*s == '\\') {
					if (s[1] != '\\' && s[1] != '"' && s[1] != 'n')
						return -1;
					if (used + 2 >= sizeof(smp.labels))
						return -1;
					smp.labels[used++] = *s++;
				}
				if (used + 3 >= sizeof(smp.labels))
					return -1;
				smp.labels[used++] = *s++;
			}
			s++;
			smp.labels[used++] = '"';
			smp.labels[used++] = ',';
			if (*s == ',')
				s++;
			else if (*s != '}')
				return -1;
		}
		s++;
	}
	smp.labels[used] = '\0';
	if (*s != ' ' && *s != '\t')
		return -1;
	while (*s == ' ' || *s == '\t')
		s++;
	if (harness_prom_value(s, &e, &smp.value) == -1)
		return -1;
	s = e;
	if (*s == ' ' || *s == '\t') { /* optional timestamp: an integer */
		while (*s == ' ' || *s == '\t')
			s++;
		if (*s == '-')
			s++;
		if (*s < '0' || *s > '9')
			return -1;
		while (*s >= '0' && *s <= '9')
			s++;
		while (*s == ' ' || *s == '\t')
			s++;
	}
	if (*s != '\0')
		return -1;
	if (p->nsamples == *cap_s) {
		*cap_s = *cap_s ? *cap_s * 2 : 256;
		p->samples = realloc(p->samples, *cap_s * sizeof(*p->samples));
		if (p->samples == NULL)
			abort();
	}
	p->samples[p->nsamples++] = smp;
	return 0;
}

int
harness_prom_parse(const char *text, struct harness_prom *p)
{
	size_t cap_s = 0, cap_f = 0, len = strlen(text);
	char *copy, *line, *next;
	int lineno = 0;

	memset(p, 0, sizeof(*p));
	if (len == 0 || text[len - 1] != '\n') {
		snprintf(p->error, sizeof(p->error), "the exposition does not end with a newline");
		return -1;
	}
	if ((copy = strdup(text)) == NULL)
		abort();
	for (line = copy; *line != '\0'; line = next) {
		next = strchr(line, '\n');
		*next++ = '\0';
		lineno++;
		if (harness_prom_line(p, line, &cap_s, &cap_f) == -1) {
			snprintf(p->error, sizeof(p->error), "line %d: %.400s", lineno, line);
			free(copy);
			return -1;
		}
	}
	free(copy);
	return 0;
}

void
harness_prom_free(struct harness_prom *p)
{
	free(p->samples);
	free(p->families);
	memset(p, 0, sizeof(*p));
}

const char *
harness_prom_type(const struct harness_prom *p, const char *family)
{
	size_t i;

	for (i = 0; i < p->nfamilies; i++)
		if (strcmp(p->families[i].name, family) == 0)
			return p->families[i].type;
	return NULL;
}

int
harness_prom_sum(const struct harness_prom *p, const char *name, const char *want, double *sum)
{
	char token[256], *copy, *t, *save;
	size_t i;
	int matched = 0, ok;

	*sum = 0;
	for (i = 0; i < p->nsamples; i++) {
		if (strcmp(p->samples[i].name, name) != 0)
			continue;
		ok = 1;
		if (want != NULL && *want != '\0') {
			if ((copy = strdup(want)) == NULL)
				abort();
			for (t = strtok_r(copy, ",", &save); t != NULL && ok;
			     t = strtok_r(NULL, ",", &save)) {
				snprintf(token, sizeof(token), ",%s,", t);
				ok = strstr(p->samples[i].labels, token) != NULL;
			}
			free(copy);
		}
		if (ok) {
			*sum += p->samples[i].value;
			matched++;
		}
	}
	return matched;
}

int
harness_prom_fetch(const char *url, struct harness_prom *p)
{
	struct harness_response r;
	int rc;

	memset(p, 0, sizeof(*p));
	if (harness_get(url, &r) == -1 || r.status != 200) {
		snprintf(p->error, sizeof(p->error), "GET %s: %ld %s", url, r.status, r.error);
		harness_response_free(&r);
		return -1;
	}
	rc = harness_prom_parse(r.body, p);
	harness_response_free(&r);
	return rc;
}
