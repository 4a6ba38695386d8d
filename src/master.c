/*
 * master.c: bind, fork, supervise (see master.h).
 *
 * The master binds every listener and builds the one SSL_CTX before forking, so that a port
 * in use or a bad certificate stops start-up with a clear message, and so that the workers
 * share one accept queue per listener: a worker that dies leaves the queued connections to
 * the others. Signals are blocked and taken synchronously with sigtimedwait, so the
 * supervision loop is plain sequential code with no handler races.
 */
#include "master.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <mongoc/mongoc.h>

#include "clock.h"
#include "http.h"
#include "log.h"
#include "monitor.h"
#include "shm.h"
#include "tls.h"
#include "worker.h"

#define MASTER_RESTART_BACKOFF_MS 1000
#define MASTER_KILL_GRACE_MS 5000

struct master_child {
	pid_t pid;
	uint64_t started_ms;
	uint64_t restart_at_ms; /* 0: no restart pending */
};

struct master {
	const struct config *conf;
	SSL_CTX *ssl;
	struct shm_region *shm;
	struct worker_listener listeners[CONFIG_MAX_SERVERS];
	int nlisteners;
	struct worker_listener monitor_listener;
	int has_monitor_listener;
	struct master_child workers[CONFIG_MAX_WORKERS];
	struct master_child monitor;
	sigset_t signals;
	int stopping;
	int exit_code;
};

static int
master_bind(const char *ip, int port, struct worker_listener *l, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	int fd, on = 1;

	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, ip, &((struct sockaddr_in *)&ss)->sin_addr) == 1) {
		((struct sockaddr_in *)&ss)->sin_family = AF_INET;
		((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)port);
		sl = sizeof(struct sockaddr_in);
		snprintf(l->addr, sizeof(l->addr), "%s:%d", ip, port);
	} else if (inet_pton(AF_INET6, ip, &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1) {
		((struct sockaddr_in6 *)&ss)->sin6_family = AF_INET6;
		((struct sockaddr_in6 *)&ss)->sin6_port = htons((uint16_t)port);
		sl = sizeof(struct sockaddr_in6);
		snprintf(l->addr, sizeof(l->addr), "[%s]:%d", ip, port);
	} else {
		snprintf(err, errlen, "bind %s %d: not an IP address", ip, port);
		return -1;
	}
	if ((fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	/* SO_REUSEADDR only: with SO_REUSEPORT a second instance would silently share the port */
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) != 0 ||
	    bind(fd, (struct sockaddr *)&ss, sl) != 0 || listen(fd, SOMAXCONN) != 0) {
		snprintf(err, errlen, "cannot listen on %s: %s", l->addr, strerror(errno));
		close(fd);
		return -1;
	}
	l->fd = fd;
	return 0;
}

static void
master_close_listeners(struct master *m)
{
	int i;

	for (i = 0; i < m->nlisteners; i++) {
		if (m->listeners[i].fd >= 0)
			close(m->listeners[i].fd);
		m->listeners[i].fd = -1;
	}
	if (m->has_monitor_listener && m->monitor_listener.fd >= 0) {
		close(m->monitor_listener.fd);
		m->monitor_listener.fd = -1;
	}
}

/* Forks one child; slot >= 0 is a worker, -1 the monitor. */
static pid_t
master_spawn(struct master *m, int slot)
{
	pid_t pid = fork();

	if (pid < 0) {
		log_error("fork: %s", strerror(errno));
		return -1;
	}
	if (pid == 0) {
		/* the child never returns: worker_main and monitor_main exit */
		if (slot >= 0) {
			if (m->has_monitor_listener)
				close(m->monitor_listener.fd);
			worker_main(slot, m->conf, m->shm, m->listeners, m->nlisteners, m->ssl);
		}
		for (int i = 0; i < m->nlisteners; i++)
			close(m->listeners[i].fd);
		monitor_main(m->conf, m->shm,
			     m->has_monitor_listener ? &m->monitor_listener : NULL);
	}
	if (slot >= 0) {
		m->workers[slot].pid = pid;
		m->workers[slot].started_ms = clock_mono_ms();
		m->workers[slot].restart_at_ms = 0;
		shm_worker_claim(m->shm, slot, pid);
	} else {
		m->monitor.pid = pid;
		m->monitor.started_ms = clock_mono_ms();
		m->monitor.restart_at_ms = 0;
	}
	return pid;
}

static void
master_describe_exit(char *out, size_t outlen, int status)
{
	if (WIFEXITED(status))
		snprintf(out, outlen, "exited with status %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(out, outlen, "was killed by signal %d (%s)", WTERMSIG(status),
			 strsignal(WTERMSIG(status)));
	else
		snprintf(out, outlen, "stopped (status %d)", status);
}

/* A child died: schedule its restart, or begin stopping, by policy. */
static void
master_on_child_exit(struct master *m, struct master_child *child, int slot, int status)
{
	char how[128];
	uint64_t now = clock_mono_ms();

	master_describe_exit(how, sizeof(how), status);
	child->pid = 0;
	if (slot >= 0)
		shm_worker_release(m->shm, slot);
	else {
		/* the lease alone would leave worker memory trusted a little longer, and a write
		 * through another instance answers faster than that: withdraw it now */
		atomic_store_explicit(&m->shm->l1_trusted, 0, memory_order_release);
		atomic_store_explicit(&m->shm->monitor_pid, 0, memory_order_relaxed);
	}
	if (m->stopping) {
		if (slot >= 0)
			log_info("worker %d %s", slot, how);
		return;
	}
	if (slot >= 0)
		log_error("worker %d %s", slot, how);
	else
		log_error("monitor %s", how);
	if (slot >= 0 && m->conf->worker_death_policy == CONFIG_DEATH_TERMINATE) {
		log_error("worker_death_policy terminate: stopping the server");
		m->stopping = 1;
		m->exit_code = 1;
		return;
	}
	atomic_fetch_add_explicit(&m->shm->worker_restarts, 1, memory_order_relaxed);
	/* a child that dies at once would otherwise be re-forked in a tight loop */
	child->restart_at_ms = now - child->started_ms < MASTER_RESTART_BACKOFF_MS
				   ? now + MASTER_RESTART_BACKOFF_MS
				   : now;
}

static void
master_reap(struct master *m)
{
	pid_t pid;
	int status, i;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		if (pid == m->monitor.pid) {
			master_on_child_exit(m, &m->monitor, -1, status);
			continue;
		}
		for (i = 0; i < m->conf->workers; i++) {
			if (m->workers[i].pid == pid) {
				master_on_child_exit(m, &m->workers[i], i, status);
				break;
			}
		}
	}
}

static void
master_restart_due(struct master *m)
{
	uint64_t now = clock_mono_ms();
	int i;

	if (m->stopping)
		return;
	for (i = 0; i < m->conf->workers; i++) {
		if (m->workers[i].pid == 0 && m->workers[i].restart_at_ms != 0 &&
		    now >= m->workers[i].restart_at_ms && master_spawn(m, i) > 0)
			log_info("worker %d restarted as pid %d", i, (int)m->workers[i].pid);
	}
	if (m->monitor.pid == 0 && m->monitor.restart_at_ms != 0 &&
	    now >= m->monitor.restart_at_ms && master_spawn(m, -1) > 0)
		log_info("monitor restarted as pid %d", (int)m->monitor.pid);
}

static int
master_children_alive(const struct master *m)
{
	int i, n = m->monitor.pid != 0;

	for (i = 0; i < m->conf->workers; i++)
		n += m->workers[i].pid != 0;
	return n;
}

static void
master_signal_children(struct master *m, int sig)
{
	int i;

	for (i = 0; i < m->conf->workers; i++)
		if (m->workers[i].pid != 0)
			kill(m->workers[i].pid, sig);
	if (m->monitor.pid != 0)
		kill(m->monitor.pid, sig);
}

/* Graceful stop: children drain within worker_shutdown_timeout, then are killed. */
static void
master_drain(struct master *m)
{
	uint64_t deadline = clock_mono_ms() + (uint64_t)m->conf->worker_shutdown_timeout * 1000 +
			    MASTER_KILL_GRACE_MS;
	struct timespec ts = {0, 100 * 1000 * 1000};
	int killed = 0;

	m->stopping = 1;
	atomic_store_explicit(&m->shm->draining, 1, memory_order_relaxed);
	master_close_listeners(m);
	master_signal_children(m, SIGTERM);
	while (master_children_alive(m) > 0) {
		sigtimedwait(&m->signals, NULL, &ts);
		master_reap(m);
		if (!killed && clock_mono_ms() >= deadline) {
			log_error("children still running after the drain deadline; killing them");
			master_signal_children(m, SIGKILL);
			killed = 1;
			m->exit_code = 1;
		}
	}
}

static int
master_write_pidfile(const char *path)
{
	char line[32];
	int fd, len;

	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0) {
		log_error("pidfile %s: %s", path, strerror(errno));
		return -1;
	}
	len = snprintf(line, sizeof(line), "%d\n", (int)getpid());
	if (write(fd, line, (size_t)len) != len) {
		log_error("pidfile %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

int
master_run(const struct config *c)
{
	struct master *m;
	char err[512];
	int i, sig, need_tls = 0, rc;
	struct timespec ts = {0, 250 * 1000 * 1000};

	log_init("master");
	prctl(PR_SET_NAME, "master", 0, 0, 0);
	if ((m = calloc(1, sizeof(*m))) == NULL) {
		log_error("out of memory");
		return 1;
	}
	m->conf = c;
	for (i = 0; i < c->nservers; i++)
		need_tls |= c->servers[i].tls;
	if (need_tls && (m->ssl = tls_new(c, err, sizeof(err))) == NULL) {
		fprintf(stderr, "%s: %s\n", c->path, err);
		free(m);
		return 2;
	}
	for (i = 0; i < c->nservers; i++) {
		if (master_bind(c->servers[i].ip, c->servers[i].port, &m->listeners[i], err,
				sizeof(err)) != 0) {
			log_error("%s", err);
			m->nlisteners = i;
			rc = 1;
			goto out;
		}
		m->listeners[i].tls = c->servers[i].tls;
		m->nlisteners = i + 1;
	}
	m->monitor_listener.fd = -1;
	if (c->monitor_port != 0) {
		if (master_bind(c->monitor_ip, c->monitor_port, &m->monitor_listener, err,
				sizeof(err)) != 0) {
			log_error("monitor: %s", err);
			rc = 1;
			goto out;
		}
		m->has_monitor_listener = 1;
	}
	if ((m->shm = shm_create(err, sizeof(err))) == NULL) {
		log_error("shared region: %s", err);
		rc = 1;
		goto out;
	}
	if (c->pidfile[0] != '\0' && master_write_pidfile(c->pidfile) != 0) {
		rc = 1;
		goto out;
	}

	sigemptyset(&m->signals);
	sigaddset(&m->signals, SIGCHLD);
	sigaddset(&m->signals, SIGTERM);
	sigaddset(&m->signals, SIGINT);
	sigaddset(&m->signals, SIGHUP);
	sigprocmask(SIG_BLOCK, &m->signals, NULL);
	signal(SIGPIPE, SIG_IGN);

	for (i = 0; i < c->nservers; i++)
		log_info("listening on %s://%s", c->servers[i].tls ? "https" : "http",
			 m->listeners[i].addr);
	for (i = 0; i < c->workers; i++)
		master_spawn(m, i);
	master_spawn(m, -1);

	while (!m->stopping) {
		sig = sigtimedwait(&m->signals, NULL, &ts);
		if (sig == SIGTERM || sig == SIGINT) {
			log_info("%s: stopping gracefully (up to %d s)", strsignal(sig),
				 c->worker_shutdown_timeout);
			break;
		}
		if (sig == SIGHUP)
			log_warn("SIGHUP: configuration reload is not supported; restart instead");
		master_reap(m);
		master_restart_due(m);
	}
	master_drain(m);
	rc = m->exit_code;
	if (c->pidfile[0] != '\0')
		unlink(c->pidfile);
	log_info("stopped");
out:
	master_close_listeners(m);
	if (m->shm != NULL)
		shm_destroy(m->shm);
	SSL_CTX_free(m->ssl);
	free(m);
	return rc;
}
